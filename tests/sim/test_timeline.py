"""The timeline (pure, no loop): incidents, capacity, and events with unique ids."""

import numpy as np

from eventguard.wire import EventKind
from sim.scenario import load_scenario
from sim.timeline import EventFactory, StepReport, Timeline, gate_events, seat_weights


def _run(tl: Timeline) -> list[StepReport]:
    return [tl.advance() for _ in range(tl.steps)]


def test_gate_closed_admits_nobody_while_closed() -> None:
    sc = load_scenario("stadium").scaled(attendees=6000, duration_s=1800)
    inc = sc.sim.incidents[0]
    tl = Timeline(sc, np.random.default_rng(0))
    g = tl.net.gate_ids.index(inc.target)
    reps = _run(tl)
    during = [int(r.admitted[g]) for r in reps if inc.at_s <= r.t - tl.dt < inc.until_s]
    after = [int(r.admitted[g]) for r in reps if r.t - tl.dt >= inc.until_s]
    assert during and sum(during) == 0 and sum(after) > 0


def test_blocked_zone_receives_nobody() -> None:
    sc = load_scenario("stadium").scaled(attendees=20_000, duration_s=5400)
    inc = sc.sim.incidents[1]
    tl = Timeline(sc, np.random.default_rng(0))
    z = tl.net.zone_ids.index(inc.target)
    for r in _run(tl):
        if inc.at_s <= r.t - tl.dt < inc.until_s:
            assert not [m for m in r.moves if m[1] == z]


def test_zones_never_overfill_by_links() -> None:
    sc = load_scenario("concert")
    tl = Timeline(sc, np.random.default_rng(2))
    reps = _run(tl)
    occ = reps[-1].occupancy
    cap = tl.net.capacity
    dest = tl.net.destination
    assert np.all(occ[dest] <= cap[dest] + 60)  # at most one step of inflow past the line


def test_events_match_counts_and_ids_are_unique() -> None:
    sc = load_scenario("stadium").scaled(attendees=3000, duration_s=900)
    tl = Timeline(sc, np.random.default_rng(1))
    f = EventFactory("run1")
    ids: set[str] = set()
    admitted = moved = 0
    while not tl.done:
        r = tl.advance()
        admitted += int(r.admitted.sum())
        moved += sum(n for _, _, n in r.moves)
        for gi, evs in gate_events(tl, r, f, at=0.0).items():
            assert all(e.gate_id == tl.net.gate_ids[gi] for e in evs)  # sent on its own gate's socket
            ids.update(e.event_id for e in evs)
            for e in evs:
                if e.kind is EventKind.TRANSFER:
                    assert e.zone_from in tl.net.zone_ids and e.zone_to in tl.net.zone_ids
    assert admitted == 3000 and len(ids) == admitted + moved


def test_seat_weights_follow_the_stands() -> None:
    tl = Timeline(load_scenario("stadium"), np.random.default_rng(0))
    w = dict(zip(tl.net.gate_ids, seat_weights(tl.net), strict=True))
    assert w["G01"] == 9700 / 5 and w["G21"] == 5300 / 5 and sum(w.values()) == 60_000
