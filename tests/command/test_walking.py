"""Walking distances over the zone graph and the dispatch proposal: pure, table-driven, no loop."""

from __future__ import annotations

import pytest

from command.walking import distances, on_shift, propose, zone_at, zone_graph
from eventguard.codes import UnitCapability, UnitKind, UnitStatus
from eventguard.config import Connection, EventInfo, Gate, Venue, Zone
from eventguard.wire import UnitView


def square(x: float, y: float, s: float = 10) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + s, y), (x + s, y + s), (x, y + s))


# a - b - c in a row (10 m + 10 m), and a shortcut a - c that is longer (50 m); d is unlinked
VENUE = Venue(
    event=EventInfo(id="e", name="e"),
    zones=(Zone("a", "A", 100, 100, square(0, 0)), Zone("b", "B", 100, 100, square(20, 0)),
           Zone("c", "C", 100, 100, square(40, 0)), Zone("d", "D", 100, 100, square(100, 100))),
    gates=(Gate("G1", "G1", "c", position=(45, -1)),),
    connections=(Connection("a", "b", 3, 10), Connection("b", "c", 3, 10), Connection("a", "c", 3, 50)),
)


def unit(uid: str, kind: UnitKind = UnitKind.STEWARD, *, zone: str | None = None, x: float | None = None,
         y: float | None = None, home_zone: str | None = None, status: UnitStatus = UnitStatus.AVAILABLE,
         caps: tuple[UnitCapability, ...] = (), shift: str = "", retired: bool = False) -> UnitView:
    return UnitView(id=uid, kind=kind, name=uid, status=status, zone=zone, x=x, y=y, home_zone=home_zone,
                    capabilities=caps, shift=shift, retired=retired)


@pytest.mark.parametrize(("start", "expected"), [
    ("a", {"a": 0, "b": 10, "c": 20}),  # the shortcut is longer than the way through b
    ("c", {"c": 0, "b": 10, "a": 20}),
    ("d", {"d": 0}),
])
def test_shortest_walking_distances(start: str, expected: dict[str, float]) -> None:
    assert distances(zone_graph(VENUE), start) == expected


@pytest.mark.parametrize(("x", "y", "zone"), [(5, 5, "a"), (25, 1, "b"), (45, 9, "c"), (45, -1, "c"),
                                              (200, 200, "d")])
def test_a_position_falls_in_its_zone_or_the_nearest(x: float, y: float, zone: str) -> None:
    assert zone_at(VENUE, x, y) == zone


@pytest.mark.parametrize(("shift", "minute", "on"), [
    ("", 0, True), ("08:00-16:00", 8 * 60, True), ("08:00-16:00", 16 * 60, False),
    ("22:00-06:00", 23 * 60, True), ("22:00-06:00", 5 * 60, True), ("22:00-06:00", 12 * 60, False),
])
def test_shifts(shift: str, minute: int, on: bool) -> None:
    assert on_shift(shift, minute) is on


def test_the_nearest_available_suitable_unit_comes_first() -> None:
    units = [
        unit("far", zone="a"),
        unit("near", x=25, y=5),  # in b by its position
        unit("home", home_zone="G1"),  # a gate names its zone: c, 0 m
        unit("busy", zone="c", status=UnitStatus.DISPATCHED),
        unit("retired", zone="c", retired=True),
        unit("island", zone="d"),  # cannot walk there
        unit("medic", UnitKind.MEDIC, zone="c", caps=(UnitCapability.FIRST_AID,)),
        unit("asleep", zone="c", shift="22:00-06:00"),
    ]
    got = [(c.unit_id, c.distance_m) for c in propose(VENUE, units, "c", kinds=[UnitKind.STEWARD],
                                                       minute_of_day=12 * 60)]
    assert got == [("home", 0), ("near", 10), ("far", 20)]
    assert [c.unit_id for c in propose(VENUE, units, "G1", capabilities=[UnitCapability.FIRST_AID])] == ["medic"]
    assert [c.unit_id for c in propose(VENUE, units, "c", minute_of_day=23 * 60)][:3] == ["asleep", "home", "medic"]
    assert propose(VENUE, units, "nowhere") == []
