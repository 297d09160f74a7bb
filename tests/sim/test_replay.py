"""`sim replay`: the twin against a trend line on scenarios with disruptions."""

import numpy as np

from sim import replay
from sim.scenario import load_scenario


def test_observe_sees_incidents_only_once_they_start() -> None:
    sc = load_scenario("concert")
    truth = replay.run_truth(sc, seed=1, until_s=70 * 60)
    before = replay.observe(sc, truth, int(55 * 60 / truth.dt))
    during = replay.observe(sc, truth, len(truth.t) - 1)
    assert before.gates_closed == frozenset() and during.gates_closed == {"E03"}
    assert sum(during.occupancy.values()) == int(truth.occupancy[-1].sum())
    assert sum(during.arrivals_per_min.values()) > 0


def test_trend_is_a_straight_line() -> None:
    t = np.arange(1.0, 1201.0)
    occ = np.column_stack([2 * t, np.full_like(t, 50)]).astype(np.int64)
    truth = replay.Truth(t, occ, np.zeros((t.size, 1), np.int64), np.zeros((t.size, 1), np.int64), 1.0)
    got = replay.trend(truth, t.size - 1, 600.0, np.array([1e9, 1e9]))
    assert np.allclose(got, [2 * 1800, 50])
    assert replay.trend(truth, t.size - 1, 600.0, np.array([100.0, 10.0])).tolist() == [100.0, 10.0]


def test_twin_beats_the_trend_line_on_a_gate_closure() -> None:
    case = replay.ReplayCase("concert E03 closed", load_scenario("concert"), 50 * 60.0,
                             100 * 60.0, every_s=600.0)
    r = replay.replay(case, seed=2)
    assert r["points"] == 6
    assert r["twin_mae"] < r["trend_mae"]
    assert {z["zone"] for z in r["per_zone"]} == {"plaza", "field", "pit", "bar-west", "bar-east"}
