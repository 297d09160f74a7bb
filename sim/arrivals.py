"""Arrival curves: how many attendees reach each gate in each time step.

The arrival rate is a normal bell around `peak_at_s`, truncated to [0, duration_s] and
normalised so that it integrates to `total`. Sampling is a Poisson process conditioned on the
total, i.e. a multinomial over (step, gate) cells, so the sampled arrivals sum to `total`
exactly. Gates share arrivals in proportion to their weights (by default their lane counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ArrivalPlan:
    """`total` people arrive over [0, duration_s], busiest at `peak_at_s`."""

    total: int
    duration_s: float
    peak_at_s: float
    spread_s: float = 0.0
    """Standard deviation of the bell; 0 means duration_s / 4."""
    gate_weights: tuple[float, ...] = ()
    """Share of arrivals per gate (venue order); empty means proportional to lanes."""

    def __post_init__(self) -> None:
        if self.total < 0:
            raise ValueError(f"total must be >= 0, got {self.total}")
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s}")
        if self.spread_s < 0:
            raise ValueError(f"spread_s must be >= 0, got {self.spread_s}")
        if any(w < 0 for w in self.gate_weights) or (self.gate_weights and sum(self.gate_weights) <= 0):
            raise ValueError("gate_weights must be >= 0 with a positive sum")

    @property
    def sigma_s(self) -> float:
        """The bell's standard deviation in seconds."""
        return self.spread_s if self.spread_s > 0 else self.duration_s / 4.0


def _cdf(t: FloatArray | float, mu: float, sigma: float) -> FloatArray:
    z = (np.asarray(t, dtype=np.float64) - mu) / (sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(z))


def arrival_rate(t: float, total: int, duration: float, peak_at: float,
                 spread: float = 0.0) -> float:
    """Expected arrivals per second at time `t` (0 outside [0, duration])."""
    if t < 0 or t > duration or total == 0:
        return 0.0
    sigma = spread if spread > 0 else duration / 4.0
    mass = float(_cdf(duration, peak_at, sigma) - _cdf(0.0, peak_at, sigma))
    pdf = math.exp(-0.5 * ((t - peak_at) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))
    return total * pdf / mass


def expected_arrivals(plan: ArrivalPlan, dt: float, n_steps: int) -> FloatArray:
    """Expected arrivals (all gates) in each step [k*dt, (k+1)*dt); sums to `plan.total`
    when n_steps * dt >= duration_s."""
    edges = np.minimum(np.arange(n_steps + 1, dtype=np.float64) * dt, plan.duration_s)
    sigma = plan.sigma_s
    cdf = _cdf(edges, plan.peak_at_s, sigma)
    mass = float(_cdf(plan.duration_s, plan.peak_at_s, sigma) - _cdf(0.0, plan.peak_at_s, sigma))
    return plan.total * np.diff(cdf - cdf[0]) / mass


def gate_shares(plan: ArrivalPlan, lanes: npt.ArrayLike) -> FloatArray:
    """Fraction of arrivals per gate."""
    lanes_arr = np.asarray(lanes, dtype=np.float64)
    w = np.asarray(plan.gate_weights, dtype=np.float64) if plan.gate_weights else lanes_arr
    if w.shape != lanes_arr.shape:
        raise ValueError(f"gate_weights has {w.size} entries for {lanes_arr.size} gates")
    return w / w.sum()


def sample_arrivals(plan: ArrivalPlan, lanes: npt.ArrayLike, dt: float, n_steps: int,
                    rng: np.random.Generator) -> IntArray:
    """Arrivals per (step, gate), shape (n_steps, n_gates); sums to `plan.total` exactly
    provided n_steps * dt covers duration_s."""
    if n_steps * dt < plan.duration_s:
        raise ValueError(f"{n_steps} steps of {dt} s do not cover duration {plan.duration_s} s")
    share = gate_shares(plan, lanes)
    if plan.total == 0:
        return np.zeros((n_steps, share.size), dtype=np.int64)
    per_step = expected_arrivals(plan, dt, n_steps)
    p = np.outer(per_step, share).ravel()
    p = np.maximum(p, 0.0)
    p /= p.sum()
    counts = rng.multinomial(plan.total, p)
    return counts.reshape(n_steps, share.size).astype(np.int64)
