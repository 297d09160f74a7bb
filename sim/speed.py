"""Walking speeds: Weidmann's fundamental diagram and free speeds by age group.

Weidmann (1993): v(rho) = v0 * (1 - exp(-gamma * (1/rho - 1/rho_max))) with v0 = 1.34 m/s,
gamma = 1.913 P/m^2 and rho_max = 5.4 P/m^2 (numbers as in /work/shared/data/ped/README.md).
Specific flow J_s = rho * v(rho) in persons per metre of width per second.

Free speeds per agent come from the RiMEA 7 / Weidmann age bands: a normal distribution with
the band's mean and sigma, clipped into the band's [min, max].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

V0 = 1.34
GAMMA = 1.913
RHO_MAX = 5.4


def weidmann_speed(density: float, v0: float = V0) -> float:
    """Walking speed in m/s at `density` persons per m^2 (v0 at zero density, 0 at rho_max)."""
    if density <= 0.0:
        return v0
    if density >= RHO_MAX:
        return 0.0
    return v0 * (1.0 - math.exp(-GAMMA * (1.0 / density - 1.0 / RHO_MAX)))


def weidmann_speeds(density: npt.ArrayLike, v0: float = V0) -> FloatArray:
    """Vectorised `weidmann_speed` over an array of densities."""
    rho = np.asarray(density, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(rho > 0.0, 1.0 / np.maximum(rho, 1e-12), np.inf)
        v = v0 * (1.0 - np.exp(-GAMMA * (inv - 1.0 / RHO_MAX)))
    return np.where(rho >= RHO_MAX, 0.0, np.where(rho <= 0.0, v0, v))


def weidmann_flow(density: float, v0: float = V0) -> float:
    """Specific flow J_s = rho * v(rho) in persons per metre per second."""
    return max(density, 0.0) * weidmann_speed(density, v0)


def weidmann_flows(density: npt.ArrayLike, v0: float = V0) -> FloatArray:
    """Vectorised `weidmann_flow`."""
    rho = np.maximum(np.asarray(density, dtype=np.float64), 0.0)
    return rho * weidmann_speeds(rho, v0)


def _capacity() -> tuple[float, float]:
    rho = np.linspace(0.01, RHO_MAX, 54_000)
    j = weidmann_flows(rho)
    k = int(np.argmax(j))
    return float(rho[k]), float(j[k])


RHO_CRITICAL, J_MAX = _capacity()
"""Density (P/m^2) at which Weidmann's specific flow peaks, and that peak (P/(m s)), ~1.75 / ~1.22."""


class AgeGroup(StrEnum):
    """The four RiMEA 7 speed groups."""

    YOUNG = "20-30"
    MIDDLE = "30-50"
    OLD = "50-80"
    IMPAIRED = "impaired"


@dataclass(frozen=True, slots=True)
class SpeedBand:
    """Free-speed distribution of one group: normal(mean, sigma) clipped into [low, high]."""

    low: float
    high: float
    mean: float
    sigma: float


SPEED_BANDS: dict[AgeGroup, SpeedBand] = {
    AgeGroup.YOUNG: SpeedBand(0.58, 1.61, 1.095, 0.2),
    AgeGroup.MIDDLE: SpeedBand(1.41, 1.54, 1.475, 0.02),
    AgeGroup.OLD: SpeedBand(0.68, 1.41, 1.045, 0.13),
    AgeGroup.IMPAIRED: SpeedBand(0.46, 0.76, 0.61, 0.05),
}


def sample_free_speeds(group: AgeGroup, n: int, rng: np.random.Generator) -> FloatArray:
    """`n` free walking speeds (m/s) for one age group, clipped into the group's band."""
    band = SPEED_BANDS[group]
    v = rng.normal(band.mean, band.sigma, size=n)
    return np.clip(v, band.low, band.high)
