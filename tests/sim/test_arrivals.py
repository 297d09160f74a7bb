"""Arrival curves conserve people and peak where asked."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.arrivals import ArrivalPlan, arrival_rate, expected_arrivals, sample_arrivals


@settings(max_examples=40, deadline=None)
@given(total=st.integers(0, 100_000), peak=st.floats(0.0, 1.0), gates=st.integers(1, 12),
       dt=st.sampled_from([0.5, 1.0, 7.0]), seed=st.integers(0, 2**32 - 1))
def test_sampled_arrivals_conserve_total(total: int, peak: float, gates: int, dt: float,
                                         seed: int) -> None:
    plan = ArrivalPlan(total=total, duration_s=600.0, peak_at_s=600.0 * peak)
    steps = int(np.ceil(600.0 / dt))
    counts = sample_arrivals(plan, np.arange(1, gates + 1), dt, steps, np.random.default_rng(seed))
    assert counts.shape == (steps, gates)
    assert counts.sum() == total
    assert (counts >= 0).all()


def test_expected_arrivals_integrate_rate() -> None:
    plan = ArrivalPlan(total=6000, duration_s=3600.0, peak_at_s=2430.0)
    per_step = expected_arrivals(plan, 60.0, 60)
    assert per_step.sum() == pytest.approx(6000.0)
    mids = np.arange(60) * 60.0 + 30.0
    rates = np.array([arrival_rate(t, 6000, 3600.0, 2430.0) for t in mids])
    assert np.allclose(per_step, rates * 60.0, rtol=0.01)
    assert int(np.argmax(per_step)) == 40
    assert arrival_rate(-1.0, 6000, 3600.0, 2400.0) == 0.0
    assert arrival_rate(3601.0, 6000, 3600.0, 2400.0) == 0.0


def test_gate_shares_follow_lanes() -> None:
    plan = ArrivalPlan(total=90_000, duration_s=100.0, peak_at_s=50.0)
    counts = sample_arrivals(plan, [1, 2], 1.0, 100, np.random.default_rng(0))
    assert counts[:, 1].sum() / counts.sum() == pytest.approx(2 / 3, abs=0.01)
    weighted = ArrivalPlan(total=90_000, duration_s=100.0, peak_at_s=50.0, gate_weights=(3.0, 1.0))
    counts = sample_arrivals(weighted, [1, 2], 1.0, 100, np.random.default_rng(0))
    assert counts[:, 0].sum() / counts.sum() == pytest.approx(0.75, abs=0.01)


def test_rejects_short_horizon_and_bad_plans() -> None:
    plan = ArrivalPlan(total=10, duration_s=100.0, peak_at_s=50.0)
    with pytest.raises(ValueError):
        sample_arrivals(plan, [1], 1.0, 50, np.random.default_rng(0))
    with pytest.raises(ValueError):
        ArrivalPlan(total=-1, duration_s=1.0, peak_at_s=0.0)
    with pytest.raises(ValueError):
        sample_arrivals(ArrivalPlan(10, 100.0, 50.0, gate_weights=(1.0,)), [1, 1], 1.0, 100,
                        np.random.default_rng(0))
