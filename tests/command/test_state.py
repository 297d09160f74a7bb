"""The in-memory crowd state, pure: events in, counts and views out."""

from __future__ import annotations

import pytest

from command.state import CrowdState
from eventguard.config import Venue
from eventguard.wire import EventKind, GateEvent

N = 0


def ev(gate: str, kind: EventKind, at: float = 100.0, **kw: object) -> GateEvent:
    global N
    N += 1
    return GateEvent(event_id=f"{gate}:{N}", gate_id=gate, kind=kind, at=at, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("events", "occupancy"), [
    ([], {"north": 0, "south": 0, "bowl": 0}),
    ([ev("N1", EventKind.ENTRY), ev("N2", EventKind.ENTRY), ev("S1", EventKind.ENTRY)],
     {"north": 2, "south": 1, "bowl": 0}),
    ([ev("N1", EventKind.ENTRY), ev("N1", EventKind.EXIT), ev("N1", EventKind.DENY),
      ev("N1", EventKind.SECONDARY)], {"north": 0, "south": 0, "bowl": 0}),
    ([ev("N1", EventKind.ENTRY), ev("N1", EventKind.ENTRY),
      ev("N1", EventKind.TRANSFER, zone_from="north", zone_to="bowl")], {"north": 1, "south": 0, "bowl": 1}),
    # a transfer naming an unknown zone is ignored rather than inventing a zone
    ([ev("N1", EventKind.TRANSFER, zone_from="north", zone_to="moon")], {"north": 0, "south": 0, "bowl": 0}),
])
def test_occupancy(venue: Venue, events: list[GateEvent], occupancy: dict[str, int]) -> None:
    st = CrowdState(venue)
    st.apply(events, now=100.0)
    assert st.occupancy() == occupancy


def test_gate_counters_rates_and_queue(venue: Venue) -> None:
    st = CrowdState(venue)
    zones, gates = st.apply([ev("N1", EventKind.ENTRY, at=10, queue=7), ev("N1", EventKind.ENTRY, at=12, queue=4),
                             ev("N1", EventKind.DENY, at=11), ev("S1", EventKind.EXIT, at=13)], now=20.0)
    assert (zones, gates) == ({"north", "south"}, {"N1", "S1"})
    v = st.gate_view("N1", now=20.0)
    assert (v.entries, v.denies, v.exits, v.queue, v.last_event_at) == (2, 1, 0, 4, 12)
    assert v.entries_per_min == pytest.approx(2.0)  # two entries in the last minute
    z = st.zone_view("north", now=20.0)
    assert (z.occupancy, z.density, z.los) == (2, pytest.approx(2 / 60, abs=1e-3), "A")
    # an older report (replayed from a journal) does not overwrite a newer queue count
    st.apply([ev("N1", EventKind.ENTRY, at=5, queue=30)], now=21.0)
    assert st.gate_view("N1", now=21.0).queue == 4
