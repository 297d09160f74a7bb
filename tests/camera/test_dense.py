"""Dense counting with CSRNet beside the per-frame analysis: run on the newest frame in its
own thread, never queued, and reported as the regions' counts in `--counter csrnet` mode."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import cv2
import msgspec
import numpy as np

from camera.counting import RegionCounter
from camera.dense import DenseCounter
from camera.journal import CameraJournal
from camera.service import CameraConfig, analyse
from eventguard.config import Camera, CameraRegion
from eventguard.wire import CameraReport
from sim import crowdscene as scenes

Q = 0.25  # a quarter-size camera keeps the network fast enough for a test


def small_camera() -> Camera:
    cam = scenes.camera()
    return replace(cam, image_size=(160, 120), image_points=tuple((x * Q, y * Q) for x, y in cam.image_points),
                   regions=tuple(CameraRegion(r.zone, tuple((x * Q, y * Q) for x, y in r.polygon))
                                 for r in cam.regions), lines=())


def frames(n: int) -> list[np.ndarray]:
    scene = scenes.Scene(frames=n, standing=scenes.crowd(40), appear=0)
    return [np.asarray(cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA), np.uint8) for f in scene.render()]


def test_the_network_takes_the_newest_frame_only_when_free() -> None:
    cam = small_camera()
    dense = DenseCounter(cam, RegionCounter(cam))
    try:
        f = frames(1)[0]
        assert dense.offer(f) is True
        assert dense.offer(f) is False and dense.skipped == 1  # busy: dropped, not queued
        (hall,) = dense.take(wait_s=30) or ()
        assert hall.zone == "hall" and hall.count >= 0 and abs(hall.area_m2 - 96.0) < 0.5
        assert dense.take() is None and dense.runs == 1  # taken once
    finally:
        dense.close()


def test_csrnet_mode_reports_the_networks_region_counts(tmp_path: Path) -> None:
    journal = CameraJournal(tmp_path / "j.sqlite")
    cfg = CameraConfig(camera=small_camera(), event_id="e", server_url="ws://127.0.0.1:9/ws/camera", token="t",
                       journal_path=tmp_path / "j.sqlite", interval_s=3600, counter="csrnet")
    n = analyse(cfg, iter(frames(30)), journal, lambda: None, threading.Event())
    (row,) = journal.unacked_raw()
    report = msgspec.json.decode(row[1], type=CameraReport)
    assert n == 1 and [z.zone_id for z in report.zones] == ["hall"] and report.zones[0].count >= 0
    journal.close()
