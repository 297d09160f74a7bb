"""Tests of command/forecast.py: time to capacity from occupancy samples."""

from __future__ import annotations

import random

import pytest

from command.forecast import (
    ForecastConfig,
    Sample,
    occupancy_limit,
    time_to_capacity,
    time_to_limit,
)
from eventguard.config import Thresholds, Zone

NOW = 10_000.0


def _series(rate_per_min: float, start: float, minutes: float = 5.0, step_s: float = 10.0,
            noise: float = 0.0, seed: int = 1, accel: float = 0.0) -> list[Sample]:
    """Samples up to NOW: occupancy = start + rate*(t-t0)/60 + accel*(t-t0)²."""
    rng = random.Random(seed)
    n = int(minutes * 60 / step_s)
    out: list[Sample] = []
    for i in range(n + 1):
        t = NOW - minutes * 60 + i * step_s
        dt = t - (NOW - minutes * 60)
        out.append((t, start + rate_per_min * dt / 60.0 + accel * dt * dt + rng.gauss(0, noise)))
    return out


@pytest.mark.parametrize(("rate", "start", "limit", "noise"), [
    (60.0, 100.0, 1000.0, 0.0),  # at NOW: 400, 600 to go at 1/s -> 600 s
    (120.0, 0.0, 5000.0, 0.0),  # at NOW: 600, 4400 to go at 2/s -> 2200 s
    (60.0, 100.0, 1000.0, 5.0),  # noisy counter, same answer within a few %
    (600.0, 1000.0, 9000.0, 20.0),
])
def test_linear_inflow(rate: float, start: float, limit: float, noise: float) -> None:
    samples = _series(rate, start, noise=noise)
    now_level = start + rate * 5.0
    expected = (limit - now_level) / (rate / 60.0)
    got = time_to_limit(samples, limit, NOW)
    assert got is not None
    assert got == pytest.approx(expected, rel=0.04)


@pytest.mark.parametrize("samples", [
    _series(-30.0, 900.0),  # falling
    _series(0.0, 500.0),  # flat
    _series(0.0, 500.0, noise=10.0),  # flat but noisy: no significant rise
    _series(0.5, 500.0),  # below min_rise_per_min
])
def test_not_rising_gives_none(samples: list[Sample]) -> None:
    assert time_to_limit(samples, 1000.0, NOW) is None


@pytest.mark.parametrize(("samples", "why"), [
    ([], "no data"),
    (_series(60.0, 100.0)[-5:], "five samples"),
    ([(NOW - 40.0 + i * 2.0, 100.0 + i * 10.0) for i in range(21)], "only 40 s"),
    ([(NOW - 2000.0 + i * 10.0, 100.0 + i * 10.0) for i in range(30)], "all too old"),
])
def test_too_little_data_gives_none(samples: list[Sample], why: str) -> None:
    assert time_to_limit(samples, 10_000.0, NOW) is None, why


def test_already_at_limit_is_zero() -> None:
    assert time_to_limit([(NOW - 1.0, 1001.0)], 1000.0, NOW) == 0.0


def test_unsorted_samples_and_future_ignored() -> None:
    samples = _series(60.0, 100.0)
    shuffled = list(reversed(samples)) + [(NOW + 100.0, 0.0)]
    assert time_to_limit(shuffled, 1000.0, NOW) == pytest.approx(600.0, rel=0.01)


def test_quadratic_catches_acceleration_sooner() -> None:
    samples = _series(30.0, 100.0, accel=0.002)  # inflow speeding up
    linear = time_to_limit(samples, 2000.0, NOW)
    quad = time_to_limit(samples, 2000.0, NOW, ForecastConfig(quadratic=True))
    assert linear is not None and quad is not None
    # truth: 100 + 0.5 d + 0.002 d² = 2000 with d = 300 + x -> d ~ 860.1 -> x ~ 560
    assert quad == pytest.approx(560.0, rel=0.03)
    assert quad < linear


def test_quadratic_never_later_than_linear_when_decelerating() -> None:
    samples = _series(120.0, 100.0, accel=-0.001)
    linear = time_to_limit(samples, 2000.0, NOW)
    quad = time_to_limit(samples, 2000.0, NOW, ForecastConfig(quadratic=True))
    assert linear is not None and quad == linear


def test_zone_limit_is_the_lower_of_capacity_and_critical_density() -> None:
    th = Thresholds(warning_density=2.0, critical_density=4.0)
    roomy = Zone(id="a", name="a", area_m2=1000.0, capacity=3000)  # 4000 by density
    tight = Zone(id="b", name="b", area_m2=100.0, capacity=1000)  # 400 by density
    assert occupancy_limit(roomy, th) == 3000.0
    assert occupancy_limit(tight, th) == 400.0
    samples = _series(60.0, 0.0)  # 300 at NOW, +1/s
    assert time_to_capacity(tight, samples, th, NOW) == pytest.approx(100.0, rel=0.01)
    assert time_to_capacity(roomy, samples, th, NOW) == pytest.approx(2700.0, rel=0.01)
