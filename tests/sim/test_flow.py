"""Macroscopic venue flow: conservation, gate capacity, zone routing and egress."""

from pathlib import Path

import numpy as np
import pytest

from eventguard.config import load_venue
from sim.arrivals import ArrivalPlan
from sim.flow import FlowResult, initial_state, simulate, step
from sim.network import build_network
from sim.queues import LaneService
from sim.synthetic import stadium

DEMO = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "demo.toml"


def _people_accounted(r: FlowResult, k: int) -> int:
    return int(r.queue[k].sum() + r.occupancy[k].sum() + r.egressed[: k + 1].sum())


def test_demo_conserves_people_everywhere() -> None:
    venue = load_venue(DEMO)
    plan = ArrivalPlan(total=1500, duration_s=1800.0, peak_at_s=1200.0)
    r = simulate(venue, plan, dt=1.0, duration_s=2400.0, rng=np.random.default_rng(5),
                 service=LaneService(secondary_p=0.05))
    assert r.arrivals.sum() == 1500
    assert (r.occupancy == r.entered - r.exited).all()
    assert (r.occupancy >= 0).all() and (r.queue >= 0).all()
    arrived = np.cumsum(r.arrivals.sum(axis=1))
    for k in (0, 600, 1200, 2399):
        assert _people_accounted(r, k) == arrived[k]
    north, south = r.zone_ids.index("north"), r.zone_ids.index("south")
    # during ingress the concourses are fed only by their gates
    assert r.entered[-1, north] == r.admissions[:, :2].sum()
    assert r.entered[-1, south] == r.admissions[:, 2].sum()
    bowl = r.zone_ids.index("bowl")
    assert r.occupancy[-1, bowl] > 0.9 * 1500


def test_saturated_gates_admit_lane_capacity() -> None:
    venue = load_venue(DEMO)
    # everybody arrives in the first minute: queues saturate for the whole hour
    plan = ArrivalPlan(total=20_000, duration_s=60.0, peak_at_s=30.0)
    r = simulate(venue, plan, dt=1.0, duration_s=3600.0, rng=np.random.default_rng(1),
                 hold_density=99.0)
    lanes = np.array([g.lanes for g in venue.gates])
    per_gate = r.admissions.sum(axis=0)
    assert np.allclose(per_gate, lanes * 3600 / 5.5, rtol=0.02)
    assert (r.queue[-1] > 0).all()


def test_full_concourse_holds_gates() -> None:
    venue = load_venue(DEMO)
    plan = ArrivalPlan(total=20_000, duration_s=60.0, peak_at_s=30.0)
    r = simulate(venue, plan, dt=1.0, duration_s=1800.0, rng=np.random.default_rng(1),
                 hold_density=1.0)
    north = r.zone_ids.index("north")
    # one step of admissions can overshoot the hold density, not more
    assert r.density[:, north].max() < 1.0 + (4 / 5.5 + 1) / 60


def test_egress_empties_venue() -> None:
    venue = load_venue(DEMO)
    plan = ArrivalPlan(total=1500, duration_s=900.0, peak_at_s=450.0)
    r = simulate(venue, plan, dt=1.0, duration_s=3600.0, rng=np.random.default_rng(2),
                 egress_at_s=1800.0)
    assert r.queue[-1].sum() == 0
    assert r.egressed.sum() == 1500
    assert r.occupancy[-1].sum() == 0
    assert r.admissions[1800:].sum() == 0


def test_link_capacity_limits_flow() -> None:
    venue = load_venue(DEMO)
    plan = ArrivalPlan(total=20_000, duration_s=60.0, peak_at_s=30.0)
    r = simulate(venue, plan, dt=1.0, duration_s=1200.0, rng=np.random.default_rng(4),
                 hold_density=99.0)
    north, bowl = r.zone_ids.index("north"), r.zone_ids.index("bowl")
    moved = r.exited[-1, north]
    # 4 m connection at Weidmann capacity (1.22 P/(m s)) for 1200 s
    assert moved <= 4 * 1.23 * 1200
    assert r.entered[-1, bowl] == r.exited[-1].sum()


def test_step_is_pure() -> None:
    venue = load_venue(DEMO)
    net = build_network(venue)
    sched = np.full((10, 3), 5, dtype=np.int64)
    s0 = initial_state(net, sched, service=LaneService())
    s1 = step(s0, 1.0, np.random.default_rng(0))
    assert s0.k == 0 and s0.queue.sum() == 0 and s0.occupancy.sum() == 0
    assert s1.k == 1 and s1.queue.sum() + s1.occupancy.sum() == 15
    s1b = step(s0, 1.0, np.random.default_rng(0))
    assert np.array_equal(s1.queue, s1b.queue) and np.array_equal(s1.occupancy, s1b.occupancy)


def test_routing_on_demo() -> None:
    net = build_network(load_venue(DEMO))
    bowl = net.zone_ids.index("bowl")
    assert net.destination.tolist() == [False, False, True]
    assert set(net.ingress.dst.tolist()) == {bowl}
    assert set(net.egress.src.tolist()) == {bowl}


@pytest.mark.slow
def test_sixty_thousand_through_forty_gates() -> None:
    venue = stadium(gates=40, lanes=3)
    plan = ArrivalPlan(total=60_000, duration_s=5400.0, peak_at_s=3600.0)
    r = simulate(venue, plan, dt=1.0, duration_s=5400.0, rng=np.random.default_rng(0),
                 service=LaneService(secondary_p=0.05))
    assert r.admissions.shape == (5400, 40)
    assert r.arrivals.sum() == 60_000
    assert (r.occupancy == r.entered - r.exited).all()
    assert r.admissions.sum() + r.queue[-1].sum() == 60_000
    assert r.admissions.sum() > 0.95 * 60_000
