"""Score calibration for face engines: pure functions over labels, embeddings and scores.

No I/O and no OpenCV: numbers in, numbers out, so every rate can be checked by hand.

Conventions (ISO/IEC 19795-1 terms, NIST FRVT 1:N terms):
- A score is a similarity: higher = more alike. Engines with a distance (dlib) use the
  negated distance (Metric.NEG_EUCLIDEAN).
- A comparison MATCHES when its score is strictly greater than the threshold. Every
  threshold returned here is therefore a score that was actually seen, and the rate it
  promises holds exactly on the data it came from.
- 1:1 verification: FMR = impostor pairs that match; FNMR = genuine pairs that do not;
  TAR = 1 - FNMR.
- 1:N open-set identification against a gallery of one photo per enrolled identity, rank 1:
  FPIR = non-mated probes (person not enrolled) whose best score matches;
  FNIR = mated probes (person enrolled) whose mate is not the best-scoring entry, or whose
  mate's score does not match. A mate that is out-ranked scores -inf (a miss at any
  threshold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.floating]


class Metric(StrEnum):
    """How two embeddings become a similarity score."""

    COSINE = "cosine"  # cosine similarity of the vectors
    NEG_EUCLIDEAN = "neg_euclidean"  # minus the Euclidean distance (dlib's descriptors)


def similarity(a: npt.ArrayLike, b: npt.ArrayLike, metric: Metric) -> Scores:
    """(n, m) scores between the rows of `a` (n, d) and of `b` (m, d)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if metric is Metric.COSINE:
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return np.asarray(xn @ yn.T, dtype=np.float64)
    sq = (x**2).sum(axis=1)[:, None] + (y**2).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    return np.asarray(-np.sqrt(np.maximum(sq, 0.0)), dtype=np.float64)


# --------------------------------------------------------------------------------------
# 1:1 verification
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairScores:
    """Scores of every unordered pair of photos, split by whether both show one person."""

    genuine: Scores
    impostor: Scores
    genuine_missing: int = 0  # genuine pairs with a photo that gave no embedding
    impostor_missing: int = 0


def pair_scores(
    labels: Sequence[str],
    embeddings: npt.ArrayLike,
    metric: Metric,
    valid: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    block: int = 1024,
) -> PairScores:
    """Genuine and impostor scores of all pairs i < j among the valid photos.

    `valid[i]` False means photo i gave no embedding (no face found); its pairs are not
    scored but counted in the *_missing fields. Pairs are ordered by (i, j)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    n = len(labels)
    if emb.shape[0] != n:
        raise ValueError(f"{n} labels but {emb.shape[0]} embeddings")
    ok = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    _, ids = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    ids = ids.reshape(-1)
    keep = np.flatnonzero(ok)
    kid = ids[keep]
    kemb = emb[keep]
    genuine: list[Scores] = []
    impostor: list[Scores] = []
    for start in range(0, len(keep), block):
        stop = min(start + block, len(keep))
        s = similarity(kemb[start:stop], kemb, metric)
        for r in range(stop - start):
            i = start + r
            row = s[r, i + 1 :]
            same = kid[i + 1 :] == kid[i]
            genuine.append(row[same])
            impostor.append(row[~same])
    counts = np.bincount(ids)
    counts_ok = np.bincount(ids, weights=ok.astype(np.float64), minlength=len(counts))
    all_genuine = int((counts * (counts - 1) // 2).sum())
    ok_genuine = int((counts_ok * (counts_ok - 1) // 2).sum())
    all_pairs = n * (n - 1) // 2
    ok_pairs = len(keep) * (len(keep) - 1) // 2
    empty = np.zeros(0, dtype=np.float64)
    return PairScores(
        genuine=np.concatenate(genuine) if genuine else empty,
        impostor=np.concatenate(impostor) if impostor else empty,
        genuine_missing=all_genuine - ok_genuine,
        impostor_missing=(all_pairs - all_genuine) - (ok_pairs - ok_genuine),
    )


def _allowed(rate: float, n: int) -> int:
    """How many of n negatives may pass at `rate` (floor, robust to 0.29 * 100 = 28.99...)."""
    return int(math.floor(rate * n + 1e-9))


def threshold_at_rate(negatives: npt.ArrayLike, rate: float) -> float:
    """The lowest threshold at which at most `rate` of `negatives` score above it.

    That is the (k+1)-th highest negative score, k = floor(rate * n); -inf if k >= n."""
    x = np.asarray(negatives, dtype=np.float64).reshape(-1)
    n = x.size
    if n == 0:
        raise ValueError("no negative scores to set a threshold from")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within [0, 1], got {rate}")
    k = _allowed(rate, n)
    if k >= n:
        return -math.inf
    pos = n - 1 - k  # ascending position of the (k+1)-th highest
    return float(np.partition(x, pos)[pos])


def threshold_at_fmr(impostor: npt.ArrayLike, fmr: float) -> float:
    """Lowest threshold whose false match rate on `impostor` is at most `fmr`."""
    return threshold_at_rate(impostor, fmr)


def rate_above(scores: npt.ArrayLike, threshold: float) -> float:
    """Share of `scores` strictly above `threshold` (they match)."""
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("no scores")
    return float(np.count_nonzero(x > threshold) / x.size)


def fmr_at(impostor: npt.ArrayLike, threshold: float) -> float:
    """False match rate: impostor pairs scoring above the threshold."""
    return rate_above(impostor, threshold)


def tar_at(genuine: npt.ArrayLike, threshold: float) -> float:
    """True accept rate: genuine pairs scoring above the threshold."""
    return rate_above(genuine, threshold)


def fnmr_at(genuine: npt.ArrayLike, threshold: float) -> float:
    """False non-match rate: genuine pairs scoring at or below the threshold."""
    return 1.0 - rate_above(genuine, threshold)


@dataclass(frozen=True)
class OperatingPoint:
    """A 1:1 threshold chosen for a target FMR and what it gives on the data."""

    target_fmr: float
    threshold: float
    fmr: float
    tar: float
    fnmr: float


def operating_point(scores: PairScores, target_fmr: float) -> OperatingPoint:
    """Threshold at `target_fmr` on `scores.impostor`, with TAR/FNMR on `scores.genuine`."""
    t = threshold_at_fmr(scores.impostor, target_fmr)
    tar = tar_at(scores.genuine, t)
    return OperatingPoint(target_fmr, t, fmr_at(scores.impostor, t), tar, 1.0 - tar)


def fnmr_with_missing(fnmr: float, scored: int, missing: int) -> float:
    """FNMR when each genuine pair that could not be scored counts as a non-match."""
    total = scored + missing
    return (fnmr * scored + missing) / total if total else 0.0


# --------------------------------------------------------------------------------------
# DET curves
# --------------------------------------------------------------------------------------


def det_thresholds(positives: npt.ArrayLike, negatives: npt.ArrayLike, points: int = 200) -> Scores:
    """Thresholds spanning a DET curve: negatives at log-spaced false rates from 1/n to 1
    plus quantiles of the positives, sorted ascending without repeats."""
    neg = np.asarray(negatives, dtype=np.float64).reshape(-1)
    pos = np.asarray(positives, dtype=np.float64).reshape(-1)
    picks: list[float] = []
    if neg.size:
        for rate in np.logspace(-math.log10(neg.size), 0, points):
            t = threshold_at_rate(neg, min(float(rate), 1.0))
            if math.isfinite(t):
                picks.append(t)
    finite = pos[np.isfinite(pos)]
    if finite.size:
        picks.extend(np.quantile(finite, np.linspace(0.0, 1.0, points)).tolist())
    return np.unique(np.asarray(picks, dtype=np.float64))


def det_curve(
    positives: npt.ArrayLike, negatives: npt.ArrayLike, thresholds: npt.ArrayLike
) -> tuple[Scores, Scores]:
    """(false positive rate, false negative rate) at each threshold: the share of
    negatives above it and of positives at or below it (FMR/FNMR, or FPIR/FNIR)."""
    neg = np.sort(np.asarray(negatives, dtype=np.float64).reshape(-1))
    pos = np.sort(np.asarray(positives, dtype=np.float64).reshape(-1))
    if neg.size == 0 or pos.size == 0:
        raise ValueError("a DET curve needs positive and negative scores")
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    false_pos = (neg.size - np.searchsorted(neg, t, side="right")) / neg.size
    false_neg = np.searchsorted(pos, t, side="right") / pos.size
    return false_pos.astype(np.float64), false_neg.astype(np.float64)


# --------------------------------------------------------------------------------------
# 1:N open-set identification
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSetSplit:
    """Which photos are enrolled, which are mated probes and which are non-mated probes."""

    gallery: tuple[int, ...]  # one photo index per enrolled identity
    mated: tuple[int, ...]  # other photos of enrolled identities
    non_mated: tuple[int, ...]  # photos of identities not enrolled
    mated_missing: int = 0  # photos of enrolled identities that gave no embedding


def open_set_split(
    labels: Sequence[str],
    n_enrolled: int,
    rng: np.random.Generator,
    valid: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
) -> OpenSetSplit:
    """Enrol `n_enrolled` identities, first from those with two or more valid photos (so
    they have mated probes), then from the rest; the gallery photo of an identity is its
    first valid photo. Invalid photos are never used; those of enrolled identities are
    counted in `mated_missing`."""
    ok = [True] * len(labels) if valid is None else [bool(v) for v in valid]
    photos: dict[str, list[int]] = {}
    for i, person in enumerate(labels):
        photos.setdefault(person, []).append(i)
    usable = {p: [i for i in idx if ok[i]] for p, idx in photos.items()}
    people = sorted(p for p, idx in usable.items() if idx)
    multi = [p for p in people if len(usable[p]) >= 2]
    single = [p for p in people if len(usable[p]) == 1]
    if n_enrolled > len(people):
        raise ValueError(f"cannot enrol {n_enrolled} identities: only {len(people)} have a face")
    order_multi = [multi[i] for i in rng.permutation(len(multi))]
    order_single = [single[i] for i in rng.permutation(len(single))]
    enrolled = set((order_multi + order_single)[:n_enrolled])
    gallery: list[int] = []
    mated: list[int] = []
    non_mated: list[int] = []
    missing = 0
    for p in people:
        if p in enrolled:
            gallery.append(usable[p][0])
            mated.extend(usable[p][1:])
            missing += len(photos[p]) - len(usable[p])
        else:
            non_mated.extend(usable[p])
    return OpenSetSplit(tuple(gallery), tuple(sorted(mated)), tuple(sorted(non_mated)), missing)


@dataclass(frozen=True)
class OpenSetScores:
    """Rank-1 scores of the probes against the gallery."""

    mated: Scores  # the mate's score if it ranks first, else -inf
    non_mated: Scores  # the best score of each non-mated probe


def open_set_scores(
    labels: Sequence[str],
    embeddings: npt.ArrayLike,
    split: OpenSetSplit,
    metric: Metric,
    block: int = 1024,
) -> OpenSetScores:
    """Search every probe of `split` against its gallery (rank 1)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    gallery = list(split.gallery)
    if not gallery:
        raise ValueError("the gallery is empty")
    g_emb = emb[gallery]
    g_person = [labels[i] for i in gallery]
    slot = {p: k for k, p in enumerate(g_person)}
    if len(slot) != len(gallery):
        raise ValueError("the gallery holds an identity twice")

    def best(indices: Sequence[int]) -> tuple[npt.NDArray[np.intp], Scores, Scores]:
        tops = np.zeros(len(indices), dtype=np.intp)
        top_scores = np.zeros(len(indices), dtype=np.float64)
        full: list[Scores] = []
        for start in range(0, len(indices), block):
            chunk = list(indices[start : start + block])
            s = similarity(emb[chunk], g_emb, metric)
            tops[start : start + len(chunk)] = np.argmax(s, axis=1)
            top_scores[start : start + len(chunk)] = s.max(axis=1)
            full.append(s)
        return tops, top_scores, (np.concatenate(full) if full else np.zeros((0, len(gallery))))

    _, nm_top, _ = best(split.non_mated)
    mated_scores = np.zeros(len(split.mated), dtype=np.float64)
    if split.mated:
        _, m_top, m_full = best(split.mated)
        for k, i in enumerate(split.mated):
            mate = slot.get(labels[i])
            if mate is None:
                raise ValueError(f"mated probe {i} ({labels[i]}) has no gallery entry")
            mate_score = m_full[k, mate]
            mated_scores[k] = mate_score if mate_score >= m_top[k] else -math.inf
    return OpenSetScores(mated=mated_scores, non_mated=nm_top)


def threshold_at_fpir(scores: OpenSetScores, fpir: float) -> float:
    """Lowest threshold whose false positive identification rate is at most `fpir`."""
    return threshold_at_rate(scores.non_mated, fpir)


def fpir_at(scores: OpenSetScores, threshold: float) -> float:
    """Share of non-mated probes that return a candidate (best score above threshold)."""
    return rate_above(scores.non_mated, threshold)


def fnir_at(scores: OpenSetScores, threshold: float) -> float:
    """Share of mated probes whose mate is not returned first above the threshold."""
    return 1.0 - rate_above(scores.mated, threshold)


@dataclass(frozen=True)
class IdentificationPoint:
    """A 1:N threshold chosen for a target FPIR and what it gives on the data."""

    target_fpir: float
    threshold: float
    fpir: float
    fnir: float


def identification_point(scores: OpenSetScores, target_fpir: float) -> IdentificationPoint:
    """Threshold at `target_fpir` on the non-mated probes, with FNIR on the mated ones."""
    t = threshold_at_fpir(scores, target_fpir)
    return IdentificationPoint(target_fpir, t, fpir_at(scores, t), fnir_at(scores, t))


def fnir_with_missing(fnir: float, scored: int, missing: int) -> float:
    """FNIR when each mated probe without an embedding counts as a miss."""
    return fnmr_with_missing(fnir, scored, missing)
