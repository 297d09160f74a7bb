"""`eventguard bench camera` measures what it says (a small run: one crowd size, one scene)."""

from __future__ import annotations

from shell import bench_camera


def test_bench_camera_reports_speed_and_errors_with_their_conditions() -> None:
    r = bench_camera.run(crowds=(20,), seeds=1, fps_frames=10, crossing=(0, 0))  # lines: tests/camera
    assert r["fps"] > 0 and r["frame_ms"]["p50"] > 0
    assert r["count"]["relative_error"] < 0.15 and len(r["count"]["frames"]) == 1
    assert (r["line"]["forward"], r["line"]["backward"]) == (0, 0)
    assert "synthetic" in r["conditions"]["data"] and r["conditions"]["threads"] == 1
    assert "fps on one core at 640x480" in bench_camera.text(r)
