"""The twin: forecasts from live state, what-if changes, deterministic and fast."""

import time

import numpy as np
import pytest

from sim import replay
from sim.scenario import Scenario, load_scenario
from sim.twin import Change, ChangeKind, LiveState, Schedule, TwinError, forecast


@pytest.fixture(scope="module")
def stadium() -> Scenario:
    return load_scenario("stadium")


@pytest.fixture(scope="module")
def at_40(stadium: Scenario) -> LiveState:
    """The stadium 40 minutes after doors open, as the command centre sees it."""
    truth = replay.run_truth(stadium, seed=0, until_s=40 * 60)
    return replay.observe(stadium, truth, len(truth.t) - 1)


def _zone_of(sc: Scenario, gate: str) -> str:
    return next(g.zone for g in sc.venue.gates if g.id == gate)


def test_empty_venue_with_nobody_coming_stays_empty(stadium: Scenario) -> None:
    plan = Schedule.from_scenario(stadium)
    late = LiveState(t_s=plan.plan.duration_s + 60, occupancy={})
    fc = forecast(late, stadium.venue, plan, 900)
    assert fc.marks_s == (300.0, 600.0, 900.0)
    assert not fc.density.any() and not fc.warning_at_s


def test_people_are_conserved(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    inside = sum(at_40.occupancy.values()) + sum(at_40.queue.values())
    fc = forecast(at_40, stadium.venue, plan, 600, marks_s=(600.0,))
    area = np.array([z.area_m2 for z in stadium.venue.zones])
    later = float((fc.density[0] * area).sum()) + int(fc.queue[0].sum())
    assert later >= inside  # arrivals keep coming at 40 min; nobody leaves during ingress
    assert later == pytest.approx(inside + 600 / 60 * sum(at_40.arrivals_per_min.values()), rel=0.25)


def test_same_question_same_answer(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    a = forecast(at_40, stadium.venue, plan, 300)
    b = forecast(at_40, stadium.venue, plan, 300)
    assert np.array_equal(a.density, b.density) and a.warning_at_s == b.warning_at_s


def test_closing_a_gate_queues_its_arrivals(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    gi = [g.id for g in stadium.venue.gates].index("G20")
    base = forecast(at_40, stadium.venue, plan, 600)
    shut = forecast(at_40, stadium.venue, plan, 600, [Change(ChangeKind.CLOSE_GATE, "G20")])
    assert shut.queue[-1, gi] > base.queue[-1, gi]
    zi = base.zone_ids.index(_zone_of(stadium, "G20"))
    assert shut.density[-1, zi] <= base.density[-1, zi]


def test_reopening_the_closed_gate_drains_its_queue(stadium: Scenario, at_40: LiveState) -> None:
    assert "G07" in at_40.gates_closed  # the scenario closes G07 from 35 to 50 min
    plan = Schedule.from_scenario(stadium)
    gi = [g.id for g in stadium.venue.gates].index("G07")
    base = forecast(at_40, stadium.venue, plan, 600)
    reopened = forecast(at_40, stadium.venue, plan, 600, [Change(ChangeKind.OPEN_GATE, "G07")])
    assert reopened.queue[-1, gi] < base.queue[-1, gi]


def test_diverting_moves_queue_and_arrivals(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    ids = [g.id for g in stadium.venue.gates]
    base = forecast(at_40, stadium.venue, plan, 300)
    div = forecast(at_40, stadium.venue, plan, 300, [Change(ChangeKind.DIVERT, "G07", to="G20")])
    assert div.queue[0, ids.index("G07")] == 0
    assert div.queue[0, ids.index("G20")] > base.queue[0, ids.index("G20")]


def test_more_lanes_shorten_the_queue(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    gi = [g.id for g in stadium.venue.gates].index("G20")
    base = forecast(at_40, stadium.venue, plan, 600)
    more = forecast(at_40, stadium.venue, plan, 600, [Change(ChangeKind.SET_LANES, "G20", value=6)])
    assert more.queue[-1, gi] < base.queue[-1, gi]


def test_end_of_show_empties_the_stands(stadium: Scenario) -> None:
    plan = Schedule.from_scenario(stadium)
    full = LiveState(t_s=150 * 60, occupancy={z.id: int(0.8 * z.capacity) for z in stadium.venue.zones
                                              if z.id.startswith("S-")})
    stay = forecast(full, stadium.venue, plan, 900)
    leave = forecast(full, stadium.venue, plan, 900, [Change(ChangeKind.END_SHOW, at_s=60)])
    stands = [i for i, z in enumerate(stay.zone_ids) if z.startswith("S-")]
    assert leave.density[-1, stands].sum() < 0.8 * stay.density[-1, stands].sum()


def test_unknown_names_are_refused(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    with pytest.raises(TwinError, match="unknown gate 'X9'"):
        forecast(at_40, stadium.venue, plan, 60, [Change(ChangeKind.CLOSE_GATE, "X9")])
    with pytest.raises(TwinError, match="unknown zone"):
        forecast(at_40, stadium.venue, plan, 60, [Change(ChangeKind.BLOCK_ZONE, "nowhere")])


def test_sixty_thousand_fifteen_minutes_ahead_is_fast(stadium: Scenario, at_40: LiveState) -> None:
    plan = Schedule.from_scenario(stadium)
    t0 = time.process_time()
    forecast(at_40, stadium.venue, plan, 900)
    assert time.process_time() - t0 < 30.0  # loose guard; measured ~0.2-0.3 s (target <= 5 s)
