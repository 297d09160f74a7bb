"""Weidmann's diagram and the RiMEA 7 free-speed bands."""

import math

import numpy as np
import pytest

from sim.speed import (
    J_MAX,
    RHO_CRITICAL,
    SPEED_BANDS,
    AgeGroup,
    sample_free_speeds,
    weidmann_flow,
    weidmann_speed,
    weidmann_speeds,
)


@pytest.mark.parametrize(("rho", "expected"), [
    (0.5, 1.2984), (1.0, 1.0581), (2.0, 0.6062), (3.0, 0.3307), (4.0, 0.1563), (5.0, 0.0374),
])
def test_weidmann_table(rho: float, expected: float) -> None:
    assert weidmann_speed(rho) == pytest.approx(expected, abs=5e-4)


def test_weidmann_edges() -> None:
    assert weidmann_speed(0.0) == 1.34
    assert weidmann_speed(5.4) == 0.0
    assert weidmann_speed(7.0) == 0.0
    assert weidmann_speed(1.0, v0=1.0) == pytest.approx(weidmann_speed(1.0) / 1.34)


def test_weidmann_monotone_and_vectorised() -> None:
    rho = np.linspace(0.0, 6.0, 121)
    v = weidmann_speeds(rho)
    assert np.all(np.diff(v) <= 1e-12)
    assert np.allclose(v, [weidmann_speed(float(r)) for r in rho])


def test_capacity_matches_handbook() -> None:
    assert RHO_CRITICAL == pytest.approx(1.75, abs=0.05)
    assert J_MAX == pytest.approx(1.22, abs=0.02)
    assert weidmann_flow(RHO_CRITICAL) == pytest.approx(J_MAX, rel=1e-6)
    assert weidmann_flow(1.0) < J_MAX and weidmann_flow(3.0) < J_MAX


@pytest.mark.parametrize("group", list(AgeGroup))
def test_free_speeds_in_band(group: AgeGroup) -> None:
    band = SPEED_BANDS[group]
    v = sample_free_speeds(group, 5000, np.random.default_rng(1))
    assert v.min() >= band.low and v.max() <= band.high
    assert abs(v.mean() - band.mean) < 0.03
    assert math.isclose(v.std(), band.sigma, rel_tol=0.3)


def test_free_speeds_seeded() -> None:
    a = sample_free_speeds(AgeGroup.YOUNG, 10, np.random.default_rng(7))
    b = sample_free_speeds(AgeGroup.YOUNG, 10, np.random.default_rng(7))
    c = sample_free_speeds(AgeGroup.YOUNG, 10, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
