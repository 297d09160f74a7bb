"""The experiment tables the model is calibrated against."""

import numpy as np
import pytest

from sim import reference as ref


def test_series_are_consistent() -> None:
    for s in ref.BOTTLENECK_SERIES:
        assert len(s.width_m) == len(s.flow_per_s) and list(s.width_m) == sorted(s.width_m)
        assert all(1.6 <= j <= 2.5 for j in s.specific())  # narrow-door specific flows


def test_reference_flow_averages_the_series_that_measured_a_width() -> None:
    assert ref.reference_flow(0.5) == (1.02, 1.02, 1.02)  # Kretz only
    mean, lo, hi = ref.reference_flow(1.0)  # Kretz 1.85, Seyfried 60/31.56, Liddle 150/74.08
    assert lo == pytest.approx(1.85) and hi == pytest.approx(150 / 74.08, abs=1e-3)
    assert mean == pytest.approx((1.85 + 60 / 31.56 + 150 / 74.08) / 3, abs=1e-3)
    assert ref.reference_flow(1.1)[0] == pytest.approx((2.0 + 60 / 28.32 + 150 / 68.36) / 3, abs=1e-3)
    with pytest.raises(ValueError):
        ref.reference_flow(0.3)


def test_single_file_relation() -> None:
    # d = 0.36 + 1.06 v: at 1/rho = 0.36 m nobody moves
    assert ref.single_file_speed(1 / 0.36) == pytest.approx(0.0, abs=1e-12)
    assert ref.single_file_speed(1.0) == pytest.approx(0.64 / 1.06)
    assert np.all(ref.single_file_speed([3.0, 4.0]) == 0.0)


def test_lab_speeds() -> None:
    v = ref.sample_lab_speeds(20_000, np.random.default_rng(0))
    assert v.mean() == pytest.approx(1.34, abs=0.01) and v.std() == pytest.approx(0.26, abs=0.01)


def test_corridor_runs_bracket_weidmann() -> None:
    from sim.speed import weidmann_speed

    above = [p for p in ref.CORRIDOR_FD if p.speed > weidmann_speed(p.density)]
    assert [p.density < 1.5 for p in ref.CORRIDOR_FD] == [p in above for p in ref.CORRIDOR_FD]
