"""`camera run`: one camera's analysis, journal and uplink in one process.

The analysis (OpenCV) runs in its own thread, never on the event loop: frames in, one
report per interval into the journal (fsync'd); the loop only runs the uplink, which replays
the journal to the server. When a finite source (folder, file) ends, the last partial
interval is reported and the process waits for the journal to drain, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from camera.analyzer import Accumulator, Analyzer, Summary, zones_of
from camera.counting import AreaRegression
from camera.heatmap import HeatGrid, thumbnail
from camera.journal import CameraJournal
from camera.uplink import CameraUplink
from eventguard.config import Camera
from eventguard.wire import CameraLive, CameraReport, LineTransfer, ZoneEstimate
from vision.image import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """What one camera process needs."""

    camera: Camera
    event_id: str
    server_url: str
    token: str
    journal_path: Path
    interval_s: float = 5.0
    drain_s: float = 30.0  # after a finite source ends: how long to wait for the server
    regression: AreaRegression | None = None
    counter: Literal["foreground", "csrnet"] = "foreground"  # who counts the regions (lines: always blobs)
    frame_every_s: float = 10.0  # a JPEG of the latest frame to the server this often (0: never)


def build_report(cam: Camera, summary: Summary, at: float, interval_s: float, nonce: str) -> CameraReport:
    """The wire report of one interval (pure)."""
    lines = {ln.id: ln for ln in cam.lines}
    transfers: list[LineTransfer] = []
    for c in summary.crossings:
        ln = lines[c.line_id]
        if c.forward:
            transfers.append(LineTransfer(line_id=ln.id, zone_from=ln.from_zone, zone_to=ln.to_zone, count=c.forward))
        if c.backward:
            transfers.append(LineTransfer(line_id=ln.id, zone_from=ln.to_zone, zone_to=ln.from_zone, count=c.backward))
    zones = tuple(ZoneEstimate(zone_id=z.zone, count=round(z.count, 2), density=round(z.density, 4),
                               area_m2=round(z.area_m2, 3)) for z in summary.zones)
    return CameraReport(report_id=f"{cam.id}-{nonce}", camera_id=cam.id, at=at, interval_s=round(interval_s, 3),
                        zones=zones, transfers=tuple(transfers))


def analyse(cfg: CameraConfig, frames: Iterator[Frame], journal: CameraJournal, on_report: Callable[[], None],
            stop: threading.Event, clock: Callable[[], float] = time.time,
            on_live: Callable[[CameraLive], None] | None = None) -> int:
    """The analysis thread: frames -> one journaled report per interval; the number of reports.
    `on_live` gets each interval's density grid (and now and then a thumbnail), not journaled."""
    analyzer, acc = Analyzer(cfg.camera, regression=cfg.regression), Accumulator()
    heat = HeatGrid(cfg.camera, analyzer.regions) if cfg.camera.regions and on_live is not None else None
    latest: list[Frame] = []  # the newest frame (for the thumbnail)
    sent_frame_at = -1e18
    dense = None
    if cfg.counter == "csrnet" and cfg.camera.regions:
        from camera.dense import DenseCounter

        dense = DenseCounter(cfg.camera, analyzer.regions)
    started = clock()
    reports = 0

    def flush(now: float, last: bool = False) -> None:
        nonlocal started, reports, sent_frame_at
        if on_live is not None:
            grid = heat.take() if heat is not None else None
            jpeg = None
            if latest and cfg.frame_every_s > 0 and now - sent_frame_at >= cfg.frame_every_s:
                jpeg, sent_frame_at = thumbnail(latest[0]), now
            if grid is not None or jpeg is not None:
                on_live(CameraLive(camera_id=cfg.camera.id, at=now, grid=grid, frame=jpeg))
        summary = acc.take()
        if dense is not None:  # the regions as CSRNet counted them (none this interval: no estimate)
            counted = dense.take(wait_s=30.0 if last else 0.0)
            summary = replace(summary, zones=zones_of(counted) if counted else ())
        if summary.frames:
            journal.append(build_report(cfg.camera, summary, now, now - started, uuid.uuid4().hex))
            reports += 1
            on_report()
        started = now

    try:
        for frame in frames:
            if stop.is_set():
                break
            result = analyzer.process(frame)
            acc.add(result)
            if heat is not None and result.regions is not None:
                heat.add(analyzer.foreground.last, result.regions)
            latest[:] = [frame]
            if dense is not None and analyzer.foreground.warm:
                dense.offer(frame)
            now = clock()
            if now - started >= cfg.interval_s:
                flush(now)
        flush(clock(), last=True)
    finally:
        if dense is not None:
            dense.close()
    return reports


async def run(cfg: CameraConfig, frames: Iterator[Frame], stop: threading.Event | None = None) -> int:
    """Run the camera until its source ends (and the journal drained) or it is cancelled;
    raises UplinkRefused when the server will not take this camera."""
    stop = stop or threading.Event()
    journal = CameraJournal(cfg.journal_path)
    io = ThreadPoolExecutor(1, thread_name_prefix="camera-journal")
    work = ThreadPoolExecutor(1, thread_name_prefix="camera-analysis")
    loop = asyncio.get_running_loop()
    uplink = CameraUplink(cfg.server_url, cfg.token, journal, io, camera_id=cfg.camera.id, event_id=cfg.event_id)
    link = asyncio.create_task(uplink.run(), name="camera-uplink")
    def wake() -> None:
        loop.call_soon_threadsafe(uplink.notify)

    def live(msg: CameraLive) -> None:
        loop.call_soon_threadsafe(uplink.offer_live, msg)

    analysis: asyncio.Future[int] = loop.run_in_executor(work, analyse, cfg, frames, journal, wake, stop,
                                                         time.time, live)
    try:
        either: list[asyncio.Future[object]] = [link, analysis]  # type: ignore[list-item]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if link.done():  # refused for good (or crashed): stop analysing, say why
            stop.set()
            await asyncio.wait([analysis], timeout=5)
            link.result()
        reports: int = await analysis
        log.info("camera %s: source ended after %d reports; draining the journal", cfg.camera.id, reports)
        drained = asyncio.ensure_future(uplink.idle.wait())
        await asyncio.wait([drained, link], timeout=cfg.drain_s, return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
        if link.done():
            link.result()
        left = await loop.run_in_executor(io, journal.pending)
        if left:
            log.warning("camera %s: %d reports not yet acknowledged (kept in %s)", cfg.camera.id, left,
                        cfg.journal_path)
        return reports
    finally:
        stop.set()
        link.cancel()
        await asyncio.gather(link, return_exceptions=True)
        work.shutdown(wait=False, cancel_futures=True)
        io.shutdown(wait=True)
        journal.close()
