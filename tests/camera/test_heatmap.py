"""A camera's density grid on the plan and its thumbnail: cells where the crowd stands, in venue
metres; the wire refuses malformed grids and frames at decode."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from camera.analyzer import Analyzer
from camera.heatmap import HeatGrid, thumbnail
from eventguard.errors import WireError
from eventguard.wire import MAX_CAMERA_FRAME_BYTES, CameraLive, decode_from_camera, encode
from sim import crowdscene as scenes

LEFT = [(2.5 + 0.8 * i, 8.5 + 0.8 * j) for i in range(7) for j in range(7)]  # 49 people in x 2.5-7.3 m


def test_the_grid_puts_the_people_where_they_stand() -> None:
    analyzer = Analyzer(scenes.camera())
    heat = HeatGrid(scenes.camera(), analyzer.regions)
    s = heat.shape
    assert (s.x0, s.y0, s.cols, s.rows) == pytest.approx((2.0, 8.0, 8, 6), abs=1e-3)  # the region, 16 m x 6 m
    assert (s.cell_w, s.cell_h) == pytest.approx((2.0, 1.0), abs=1e-3)
    assert heat.floor.sum() == pytest.approx(96.0, rel=0.02)
    counted = 0.0
    for i, frame in enumerate(scenes.Scene(frames=35, standing=LEFT, appear=25).render()):
        r = analyzer.process(frame)
        if r.regions is not None and i >= 25:
            heat.add(analyzer.foreground.last, r.regions)
            counted += sum(e.count for e in r.regions)
    grid = heat.take()
    assert grid is not None and heat.take() is None  # taken: a new interval starts empty
    d = np.array([0.0 if v is None else v for v in grid.density]).reshape(grid.rows, grid.cols)
    people = d * (heat.floor.reshape(grid.rows, grid.cols))
    assert people.sum() == pytest.approx(counted / 10, rel=1e-3)  # the cells add up to the regions' count
    left, right = people[:, :3].sum(), people[:, 4:].sum()  # x 2-8 m vs x 10-18 m
    assert left > 0.95 * people.sum() and right < 0.02 * people.sum()
    assert d[:, :3].max() > 1.0 and d[:, 4:].max() < 0.1


def test_a_thumbnail_is_a_small_jpeg() -> None:
    frame = next(iter(scenes.Scene(frames=1, standing=LEFT).render()))
    jpeg = thumbnail(frame)
    assert jpeg.startswith(b"\xff\xd8\xff") and len(jpeg) <= MAX_CAMERA_FRAME_BYTES
    noisy = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)  # worst case for JPEG
    tight = thumbnail(noisy, width=640, cap=20_000)
    assert len(tight) <= 20_000


def live(**over: object) -> bytes:
    msg: dict[str, object] = {"type": "camera_live", "camera_id": "C1", "at": 1.7e9,
                              "grid": {"x0": 2, "y0": 8, "cell_w": 2, "cell_h": 1, "cols": 2, "rows": 1,
                                       "density": [0.5, None]},
                              "frame": base64.b64encode(b"\xff\xd8\xff\xe0" + b"0" * 100).decode()}
    for k, v in over.items():
        if k.startswith("grid."):
            msg["grid"][k[5:]] = v  # type: ignore[index]
        else:
            msg[k] = v
    return json.dumps(msg).encode()


def test_a_live_message_round_trips() -> None:
    m, bad = decode_from_camera(live())
    assert isinstance(m, CameraLive) and not bad and m.grid is not None and m.grid.density == (0.5, None)
    assert decode_from_camera(encode(m))[0] == m


@pytest.mark.parametrize(("over", "says"), [
    ({"grid.density": [0.5]}, "expected cols * rows = 2"),
    ({"grid.cols": 33, "grid.density": [0.1] * 33}, "cols"),
    ({"grid.density": [0.5, 99.0]}, "density"),
    ({"grid.density": [0.5, "NaN"]}, "density"),
    ({"grid.cell_w": 0}, "cell_w"),
    ({"grid.x0": 1e9}, "x0"),
    ({"grid.density": [0.1] * 2000, "grid.cols": 32, "grid.rows": 32}, "density"),
    ({"frame": base64.b64encode(b"GIF89a" + b"0" * 10).decode()}, "not a JPEG"),
    ({"frame": base64.b64encode(b"\xff\xd8\xff" + b"0" * MAX_CAMERA_FRAME_BYTES).decode()}, "frame"),
    ({"camera_id": "C1\n"}, "camera_id"),
])
def test_malformed_grids_and_frames_are_refused_at_decode(over: dict[str, object], says: str) -> None:
    with pytest.raises(WireError) as err:
        decode_from_camera(live(**over))
    assert says in str(err.value), err.value
