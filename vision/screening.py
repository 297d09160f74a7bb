"""1:N screening beyond the real identities: look-alike distractors and binomial extrapolation.

Pure numpy, no I/O. Distances here follow vision/index.py (lower = more alike; Euclidean, or
1 - cosine similarity) and a probe is a hit when its distance is <= the threshold.

A labelled set holds a few thousand identities (LFW: 2,663); a watchlist may hold a million. Two
ways to say what happens at that size, reported side by side by `eventguard bench screening`:

- measured with distractors: the real gallery padded with synthetic embeddings drawn from a
  Gaussian with the mean and covariance of the real embeddings (normalised for cosine), searched
  with the real index. `distractor_fmr` compares the probe-to-distractor distances with the real
  impostor distances at the thresholds of given false match rates: a lighter synthetic tail
  makes this method optimistic.
- binomial: every one of the N entries is an independent chance of a false match with the
  per-comparison rate p(t) measured on all real impostor pairs, so FPIR(N, t) = 1 - (1 - p(t))^N,
  and a mated probe is found when its mate is within t and no impostor is nearer:
  FNIR(N, t) = 1 - mean([d_mate <= t] (1 - p(<d_mate))^(N-1)). Real rates vary from probe to
  probe; 1 - (1 - p)^N is concave in p, so this pooled form is an upper bound on FPIR for the
  same average p (Jensen). It cannot go below one impostor pair: a rate needing p under
  1/(pairs) is reported as unresolved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.index import DistanceMetric

Floats = npt.NDArray[np.float64]


def distances(a: npt.ArrayLike, b: npt.ArrayLike, metric: DistanceMetric) -> Floats:
    """(n, m) distances between the rows of `a` and of `b`, in float64."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if metric is DistanceMetric.COSINE:
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        yn = y / np.linalg.norm(y, axis=1, keepdims=True)
        return np.asarray(1.0 - xn @ yn.T, dtype=np.float64)
    sq = (x**2).sum(axis=1)[:, None] + (y**2).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)), dtype=np.float64)


# ---- distractors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistractorModel:
    """A Gaussian fitted to real embeddings: mean, Cholesky factor of the covariance."""

    mean: Floats
    chol: Floats
    unit: bool  # normalise draws (cosine embeddings)


def fit_distractors(embeddings: npt.ArrayLike, metric: DistanceMetric) -> DistractorModel:
    """Mean and covariance of `embeddings` (rows; normalised first for cosine)."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError(f"need at least two embeddings, got shape {e.shape}")
    unit = metric is DistanceMetric.COSINE
    if unit:
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
    cov = np.cov(e, rowvar=False)
    ridge = 1e-9 * max(float(np.trace(cov)) / e.shape[1], 1e-12)
    chol = np.linalg.cholesky(cov + ridge * np.eye(e.shape[1]))
    return DistractorModel(e.mean(axis=0), chol, unit)


def draw_distractors(
    model: DistractorModel, n: int, rng: np.random.Generator, chunk: int = 65_536
) -> npt.NDArray[np.float32]:
    """n synthetic embeddings (float32 rows) from `model`."""
    d = model.mean.shape[0]
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x = rng.standard_normal((m, d)) @ model.chol.T + model.mean
        if model.unit:
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s : s + m] = x
    return out


def distractor_fmr(
    probes: npt.ArrayLike, distractors: npt.ArrayLike, thresholds: Sequence[float],
    metric: DistanceMetric, block: int = 256,
) -> list[float]:
    """Share of probe-to-distractor distances <= each threshold (all pairs)."""
    p = np.asarray(probes, dtype=np.float64)
    counts = np.zeros(len(thresholds), dtype=np.int64)
    for s in range(0, len(p), block):
        d = distances(p[s : s + block], distractors, metric).ravel()
        d.sort()
        counts += np.searchsorted(d, np.asarray(thresholds, dtype=np.float64), side="right")
    total = len(p) * int(np.asarray(distractors).shape[0])
    return [float(c / total) for c in counts]


# ---- rates from searches ----------------------------------------------------------------------


def below(sorted_distances: Floats, t: float, *, strict: bool = False) -> float:
    """Share of `sorted_distances` (ascending) <= t (< t when strict)."""
    at = np.searchsorted(sorted_distances, t, side="left" if strict else "right")
    return float(at / len(sorted_distances))


def threshold_at_fpir(non_mated_top: npt.ArrayLike, fpir: float) -> float:
    """Largest distance threshold at which at most `fpir` of non-mated probes get a hit.

    That is just under the (k+1)-th smallest best distance, k = floor(fpir * n)."""
    d = np.sort(np.asarray(non_mated_top, dtype=np.float64))
    if d.size == 0:
        raise ValueError("no non-mated probes")
    k = int(math.floor(fpir * d.size + 1e-9))
    if k >= d.size:
        return math.inf
    return float(np.nextafter(d[k], -np.inf))


@dataclass(frozen=True)
class OpenSetRates:
    """FPIR and FNIR (rank 1) of one threshold."""

    threshold: float
    fpir: float
    fnir: float


def open_set_rates(
    mated_top: npt.ArrayLike, mated_found: npt.ArrayLike, non_mated_top: npt.ArrayLike,
    threshold: float,
) -> OpenSetRates:
    """FPIR = non-mated probes whose best distance <= t; FNIR = mated probes whose best entry
    is not their mate (`mated_found` False) or lies beyond t."""
    nm = np.asarray(non_mated_top, dtype=np.float64)
    m = np.asarray(mated_top, dtype=np.float64)
    ok = np.asarray(mated_found, dtype=bool)
    fpir = float(np.count_nonzero(nm <= threshold) / nm.size)
    fnir = 1.0 - float(np.count_nonzero(ok & (m <= threshold)) / m.size)
    return OpenSetRates(threshold, fpir, fnir)


# ---- binomial extrapolation -------------------------------------------------------------------


def fpir_binomial(p: float, n: int) -> float:
    """1 - (1 - p)^n, accurate for tiny p."""
    if p >= 1.0:
        return 1.0
    return float(-math.expm1(n * math.log1p(-p)))


def fnir_binomial(mate_distances: npt.ArrayLike, impostor_sorted: Floats, threshold: float,
                  n: int) -> float:
    """FNIR of a list of n entries: a mated probe is found when its mate is within the threshold
    and none of the n - 1 others (impostors at the measured per-comparison rate) is nearer."""
    d = np.asarray(mate_distances, dtype=np.float64)
    p = np.searchsorted(impostor_sorted, d, side="left") / len(impostor_sorted)
    with np.errstate(divide="ignore"):
        stay = np.exp((n - 1) * np.log1p(-np.minimum(p, 1.0)))
    found = np.where(d <= threshold, stay, 0.0)
    return float(1.0 - found.mean())


def threshold_for_fpir_binomial(impostor_sorted: Floats, n: int, fpir: float) -> float | None:
    """Largest threshold whose binomial FPIR at n entries is <= fpir; None when that needs a
    per-comparison rate under one impostor pair (beyond what the data resolves)."""
    p = -math.expm1(math.log1p(-fpir) / n)  # 1 - (1 - fpir)^(1/n)
    k = int(math.floor(p * len(impostor_sorted) + 1e-9))
    if k < 1:
        return None
    return float(np.nextafter(impostor_sorted[k], -np.inf))
