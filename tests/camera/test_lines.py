"""Counting lines: people crossing per direction on a rendered scene with known crossings."""

from __future__ import annotations

from camera.analyzer import Accumulator, Analyzer
from camera.lines import LineCounter, side
from eventguard.config import CountingLine
from sim import crowdscene as scenes

LINE = CountingLine("L", from_zone="a", to_zone="b", points=((0.0, 50.0), (100.0, 50.0)))


def test_side_is_positive_on_the_right_of_the_line_direction() -> None:
    assert side(LINE.points, (50.0, 60.0)) == 10.0  # y down: below the line is the right-hand side
    assert side(LINE.points, (50.0, 40.0)) == -10.0


def test_a_track_counts_once_per_crossing_and_jitter_on_the_line_counts_nothing() -> None:
    c = LineCounter([LINE], margin_px=3.0)
    path = [(20.0, 30.0), (20.0, 45.0), (20.0, 49.0), (20.0, 51.0), (20.0, 49.5), (20.0, 51.0), (20.0, 58.0),
            (20.0, 70.0)]
    got = [c.step_points([p])[0] for p in path]
    assert sum(g.forward for g in got) == 1 and sum(g.backward for g in got) == 0
    back = [c.step_points([p])[0] for p in reversed(path)]
    assert sum(g.backward for g in back) == 1 and sum(g.forward for g in back) == 0


def test_crossing_beside_the_segment_is_not_counted() -> None:
    c = LineCounter([LINE])
    got = [c.step_points([(150.0, y)])[0] for y in (30.0, 45.0, 55.0, 70.0)]
    assert sum(g.forward + g.backward for g in got) == 0


def test_a_rendered_scene_with_known_crossings_is_counted_within_5_percent() -> None:
    """40 people walk from the foyer into the hall and 20 out of it, in lanes, at 1.1-1.5 m/s
    (10 fps); the camera counts them from its foreground blobs."""
    walkers = scenes.traffic(forward=40, backward=20, first=30)
    scene = scenes.Scene(frames=max(w.start for w in walkers) + 60, walkers=walkers)
    analyzer, acc = Analyzer(scenes.camera()), Accumulator()
    for frame in scene.render():
        acc.add(analyzer.process(frame))
    (line,) = acc.take().crossings
    assert abs(line.forward - 40) <= 2 and abs(line.backward - 20) <= 1, line
