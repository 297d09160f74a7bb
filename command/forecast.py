"""Time-to-capacity forecast of a zone from its recent occupancy trend.

A least-squares line through the last minutes of (t, occupancy) samples, extrapolated to the
zone's limit. With `quadratic=True` a second fit with a t² term is also made, and its answer is
used only when it is sooner (accelerating inflow): a decelerating parabola would predict the
rise stops, which is not a safe thing to extrapolate. Pure: `now` is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eventguard.config import Thresholds, Zone

Sample = tuple[float, float]  # (unix seconds, occupancy)


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """Noise guards and fit options."""

    window_s: float = 600.0  # only samples newer than now - window_s are fitted
    min_samples: int = 6
    min_span_s: float = 60.0  # the fitted samples must span at least this long
    min_rise_per_min: float = 1.0  # a slower rise counts as not rising
    min_t_stat: float = 2.0  # slope must be this many standard errors above zero
    quadratic: bool = False


def occupancy_limit(zone: Zone, thresholds: Thresholds) -> float:
    """The occupancy that must not be reached: capacity or critical density x area, the lower."""
    return min(float(zone.capacity), thresholds.critical_density * zone.area_m2)


def time_to_limit(samples: Sequence[Sample], limit: float, now: float,
                  cfg: ForecastConfig = ForecastConfig()) -> float | None:
    """Seconds from `now` until the fitted trend reaches `limit`.

    0.0 when the newest sample is already at or above the limit; None when there is too little
    data (fewer than `min_samples` in the window or spanning less than `min_span_s`) or the
    occupancy is not significantly rising.
    """
    recent = sorted((t, occ) for t, occ in samples if now - cfg.window_s < t <= now)
    if recent and recent[-1][1] >= limit:
        return 0.0
    if len(recent) < max(3, cfg.min_samples) or recent[-1][0] - recent[0][0] < cfg.min_span_s:
        return None
    tau = np.array([t - now for t, _ in recent], dtype=np.float64)  # <= 0, centred on now
    occ = np.array([o for _, o in recent], dtype=np.float64)
    linear = _linear(tau, occ, limit, cfg)
    if linear is None or not cfg.quadratic or len(recent) < 4:
        return linear
    quad = _quadratic(tau, occ, limit)
    return linear if quad is None else min(linear, quad)


def time_to_capacity(zone: Zone, samples: Sequence[Sample], thresholds: Thresholds, now: float,
                     cfg: ForecastConfig = ForecastConfig()) -> float | None:
    """`time_to_limit` for a zone's `occupancy_limit`."""
    return time_to_limit(samples, occupancy_limit(zone, thresholds), now, cfg)


def _linear(tau: np.ndarray, occ: np.ndarray, limit: float, cfg: ForecastConfig) -> float | None:
    n = len(tau)
    t_mean = tau.mean()
    dt = tau - t_mean
    sxx = float(dt @ dt)
    if sxx <= 0:
        return None
    slope = float(dt @ (occ - occ.mean())) / sxx  # persons per second
    level = float(occ.mean()) - slope * float(t_mean)  # fitted occupancy at now
    if slope * 60.0 < cfg.min_rise_per_min:
        return None
    residuals = occ - (level + slope * tau)
    stderr = math.sqrt(float(residuals @ residuals) / (n - 2) / sxx)
    if stderr > 0 and slope / stderr < cfg.min_t_stat:
        return None
    return max(0.0, (limit - level) / slope)


def _quadratic(tau: np.ndarray, occ: np.ndarray, limit: float) -> float | None:
    scale = max(1.0, float(np.abs(tau).max()))  # keep the normal equations well conditioned
    x = tau / scale
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, occ, rcond=None)
    a, b, c = float(a), float(b), float(c)
    if c <= 0 or b < 0:
        return None  # not accelerating upwards at now: leave it to the line
    if a >= limit:
        return 0.0
    # smallest positive root of c x² + b x + (a - limit) = 0, in units of `scale` seconds
    disc = b * b - 4.0 * c * (a - limit)
    root = (-b + math.sqrt(disc)) / (2.0 * c)
    return max(0.0, root * scale)
