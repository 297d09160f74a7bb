"""Cameras in the crowd picture (pure): fusion, density alarm timing, data quality, privileges."""

from __future__ import annotations

import pytest

from command.alerts import AlertBook, ChangeKind
from command.crowdsense import (
    CameraPicture,
    QualityBound,
    Track,
    Tracks,
    ZoneReading,
    density_alarm_step,
    disagrees,
    evaluate,
    fuse,
    report_problem,
)
from command.density import zone_state
from eventguard.codes import LOS, AlertKind
from eventguard.config import Camera, CameraRegion, CountingLine, DensityAlarm, Zone
from eventguard.wire import CameraReport, LineTransfer, ZoneEstimate

HALL = Zone(id="hall", name="Hall", area_m2=100.0, capacity=400)
ALARM = DensityAlarm(zone="hall", density=2.0, min_duration_s=10.0, repeat_s=30.0)
CAM = Camera(id="C1", name="C1", image_size=(640, 480), image_points=(), venue_points=(),
             regions=(CameraRegion("hall", ((0, 0), (1, 0), (1, 1))),),
             lines=(CountingLine("L1", "foyer", "hall", ((0, 0), (1, 1))),))


def report(people: float = 50.0, area: float = 20.0, *, camera: str = "C1", zone: str = "hall",
           transfers: tuple[LineTransfer, ...] = ()) -> CameraReport:
    return CameraReport(report_id=f"{camera}-1", camera_id=camera, at=0.0, interval_s=1.0,
                        zones=(ZoneEstimate(zone_id=zone, count=people, density=people / area, area_m2=area),),
                        transfers=transfers)


def test_camera_density_wins_while_fresh_and_covers_only_what_cameras_see() -> None:
    pic = CameraPicture(stale_after_s=15.0)
    pic.add(report(50.0, 20.0), received_at=100.0)
    pic.add(report(10.0, 30.0, camera="C2"), received_at=105.0)
    cam = pic.density("hall", 110.0)
    assert cam is not None and cam.density == pytest.approx(60 / 50) and cam.cameras == 2
    gates = zone_state(HALL, 30)  # 0.3 p/m² by the gates
    fused = fuse(gates, cam)
    assert fused.density == pytest.approx(1.2) and fused.occupancy == 30 and fused.los is LOS.E
    only_c2 = pic.density("hall", 118.0)
    assert only_c2 is not None and only_c2.cameras == 1 and only_c2.density == pytest.approx(10 / 30)
    assert pic.density("hall", 121.0) is None and fuse(gates, None) == gates  # stale: gates again


@pytest.mark.parametrize(("steps", "actions"), [
    # (time, density) -> the alarm's actions: raised after 10 s at or above, repeated every 30 s
    ([(0, 2.5), (5, 2.5), (9.9, 2.5), (10, 2.5)], [None, None, None, "raise"]),
    ([(0, 2.5), (5, 1.0), (10, 2.5), (19, 2.5), (20, 2.5)], [None, None, None, None, "raise"]),  # a dip restarts
    ([(0, 2.0), (10, 2.0), (39, 2.0), (40, 2.0), (70, 2.1)], [None, "raise", None, "repeat", "repeat"]),
    ([(0, 3), (10, 3), (12, 1), (21, 1), (22, 1)], [None, "raise", None, None, "clear"]),  # clears after 10 s below
    ([(0, 3), (10, 3), (12, None), (40, None)], [None, "raise", None, None]),  # no reading: no repeat, no clear
])
def test_density_alarm_follows_threshold_minimum_duration_and_repeat(
        steps: list[tuple[float, float | None]], actions: list[str | None]) -> None:
    track, got = Track(), []
    for now, density in steps:
        track, act = density_alarm_step(track, density, ALARM, now)
        got.append(act.value if act else None)
    assert got == actions


@pytest.mark.parametrize(("gates", "camera", "expected"), [
    (100, 110.0, False), (100, 160.0, True), (10, 25.0, False), (10, 31.0, True), (-5, 0.0, False),
])
def test_gates_and_cameras_disagree_beyond_the_bound(gates: int, camera: float, expected: bool) -> None:
    assert disagrees(gates, camera, QualityBound(people=20.0, fraction=0.3)) is expected


def test_evaluate_raises_repeats_and_clears_alarm_and_data_quality_warning() -> None:
    pic = CameraPicture(stale_after_s=1e9)
    pic.add(report(300.0, 100.0), received_at=0.0)  # 3 p/m²: 300 people, the gates say 20
    bound = QualityBound(people=20.0, fraction=0.5, hold_s=5.0)
    book, tracks, kinds = AlertBook(next_id=7), Tracks(), []
    for now in (0.0, 5.0, 10.0, 40.0):
        book, tracks, changes = evaluate(book, tracks, {"hall": ZoneReading(20, 100.0, pic.density("hall", now))},
                                         {"hall": ALARM}, bound, now)
        kinds.append(sorted((c.alert.kind.value, c.change.value) for c in changes))
    assert kinds == [[], [("camera_disagreement", "raised")], [("crowd_density", "raised")],
                     [("crowd_density", "repeated")]]
    alarm = book[(AlertKind.CROWD_DENSITY, "hall")]
    assert alarm.details["repeats"] == 1 and alarm.value == pytest.approx(3.0) and alarm.id == 8
    pic.add(report(20.0, 100.0), received_at=41.0)  # the crowd leaves; now the numbers agree
    for now in (41.0, 46.0, 51.0):
        book, tracks, changes = evaluate(book, tracks, {"hall": ZoneReading(20, 100.0, pic.density("hall", now))},
                                         {"hall": ALARM}, bound, now)
    assert not book and all(c.change is ChangeKind.CLEARED for c in changes)


@pytest.mark.parametrize(("rep", "camera", "problem"), [
    (report(), "C1", None),
    (report(transfers=(LineTransfer(line_id="L1", zone_from="hall", zone_to="foyer", count=3),)), "C1", None),
    (report(), "C2", "report of camera C1 sent by camera C2"),
    (report(zone="foyer"), "C1", "camera C1 does not count zone foyer"),
    (report(transfers=(LineTransfer(line_id="L1", zone_from="foyer", zone_to="bowl", count=3),)), "C1",
     "camera C1 has no line L1 from foyer to bowl"),
    (report(transfers=(LineTransfer(line_id="L9", zone_from="foyer", zone_to="hall", count=3),)), "C1",
     "camera C1 has no line L9"),
])
def test_a_camera_reports_only_its_own_zones_and_lines(rep: CameraReport, camera: str, problem: str | None) -> None:
    got = report_problem(rep, camera, CAM)
    assert got == problem if problem is None else (got is not None and got.startswith(problem))
    assert report_problem(rep, "C9", None) == "camera C9 is not in the venue file"
