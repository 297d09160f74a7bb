"""Calibration maths on small hand-built score arrays, with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision import calibrate as cal
from vision.calibrate import Metric, OpenSetScores, OpenSetSplit, PairScores

TEN = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@pytest.mark.parametrize(
    ("negatives", "rate", "expected"),
    [
        (TEN, 0.0, 1.0),  # nothing may pass: the highest score itself
        (TEN, 0.1, 0.9),  # one of ten may pass: the 2nd highest
        (TEN, 0.25, 0.8),  # floor(2.5) = 2 may pass
        (TEN, 0.3, 0.7),  # 0.3 * 10 = 3.0000000000000004: still 3
        (TEN, 0.7, 0.3),  # 0.7 * 10 = 7.000000000000001: still 7
        (TEN, 0.99, 0.1),  # floor(9.9) = 9 may pass: the lowest
        (TEN, 1.0, -math.inf),  # everything may pass
        (list(reversed(TEN)), 0.1, 0.9),  # order does not matter
        ([0.5, 0.5, 0.5, 0.1], 0.25, 0.5),  # a tie: none of the 0.5s passes (strictly above)
        ([0.5, 0.5, 0.5, 0.1], 0.75, 0.1),
        ([-2.0, -1.0], 0.5, -2.0),  # negated distances
        ([i / 100 for i in range(100)], 0.29, 0.7),  # 0.29 * 100 = 28.999999999999996 -> 29
    ],
)
def test_threshold_at_rate(negatives: list[float], rate: float, expected: float) -> None:
    t = cal.threshold_at_rate(negatives, rate)
    assert t == expected
    assert cal.rate_above(negatives, t) <= rate


@pytest.mark.parametrize(("negatives", "rate"), [([], 0.1), ([0.1], -0.1), ([0.1], 1.5)])
def test_threshold_at_rate_refuses(negatives: list[float], rate: float) -> None:
    with pytest.raises(ValueError):
        cal.threshold_at_rate(negatives, rate)


@pytest.mark.parametrize(
    ("scores", "threshold", "above"),
    [
        ([0.2, 0.5, 0.8], 0.5, 1 / 3),  # equal to the threshold does not match
        ([0.2, 0.5, 0.8], 0.49, 2 / 3),
        ([0.2, 0.5, 0.8], -math.inf, 1.0),
        ([0.2, 0.5, 0.8], 0.8, 0.0),
    ],
)
def test_rates_at_threshold(scores: list[float], threshold: float, above: float) -> None:
    assert cal.fmr_at(scores, threshold) == above
    assert cal.tar_at(scores, threshold) == above
    assert cal.fnmr_at(scores, threshold) == pytest.approx(1 - above)


GENUINE = np.array([0.95, 0.9, 0.85, 0.6, 0.3])
IMPOSTOR = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.62, 0.7, 0.05, 0.0])


@pytest.mark.parametrize(
    ("target", "threshold", "fmr", "tar"),
    [
        (0.0, 0.7, 0.0, 0.6),  # above 0.7: 0.95, 0.9, 0.85
        (0.1, 0.62, 0.1, 0.6),  # 0.7 passes; 0.6 <= 0.62 still fails
        (0.2, 0.55, 0.2, 0.8),  # 0.6 now matches
        (0.5, 0.3, 0.5, 0.8),  # 0.3 equals the threshold: a non-match
        (0.6, 0.2, 0.6, 1.0),
    ],
)
def test_operating_point(target: float, threshold: float, fmr: float, tar: float) -> None:
    op = cal.operating_point(PairScores(GENUINE, IMPOSTOR), target)
    assert op.threshold == threshold
    assert op.fmr == fmr
    assert op.tar == tar
    assert op.fnmr == pytest.approx(1 - tar)


@pytest.mark.parametrize(
    ("fnmr", "scored", "missing", "expected"),
    [(0.0, 10, 0, 0.0), (0.1, 10, 0, 0.1), (0.1, 8, 2, 0.28), (0.0, 0, 0, 0.0), (0.5, 0, 4, 1.0)],
)
def test_fnmr_with_missing(fnmr: float, scored: int, missing: int, expected: float) -> None:
    assert cal.fnmr_with_missing(fnmr, scored, missing) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "a", "b", "expected"),
    [
        (Metric.COSINE, [[1.0, 0.0]], [[0.0, 2.0], [3.0, 0.0], [-1.0, 0.0]], [[0.0, 1.0, -1.0]]),
        (Metric.COSINE, [[1.0, 1.0]], [[1.0, 0.0]], [[math.sqrt(0.5)]]),
        (Metric.NEG_EUCLIDEAN, [[0.0, 0.0]], [[3.0, 4.0], [0.0, 0.0]], [[-5.0, 0.0]]),
    ],
)
def test_similarity(
    metric: Metric, a: list[list[float]], b: list[list[float]], expected: list[list[float]]
) -> None:
    assert cal.similarity(a, b, metric) == pytest.approx(np.array(expected))


# Five photos in 2-D: a twice, b twice, c once. Cosines are easy to read off.
LABELS = ["a", "a", "b", "b", "c"]
EMB = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.0, 2.0], [-1.0, 0.0]])


def test_pair_scores() -> None:
    ps = cal.pair_scores(LABELS, EMB, Metric.COSINE, block=2)  # blocks must not matter
    assert ps.genuine == pytest.approx([0.6, 1.0])  # (a0, a1), (b0, b1)
    # pairs in (i, j) order: 0-2, 0-3, 0-4, 1-2, 1-3, 1-4, 2-4, 3-4
    assert ps.impostor == pytest.approx([0.0, 0.0, -1.0, 0.8, 0.8, -0.6, 0.0, 0.0])
    assert (ps.genuine_missing, ps.impostor_missing) == (0, 0)


def test_pair_scores_without_a_face() -> None:
    ps = cal.pair_scores(LABELS, EMB, Metric.COSINE, valid=[True, True, True, False, True])
    assert ps.genuine == pytest.approx([0.6])  # (b0, b1) lost
    assert ps.genuine_missing == 1
    assert ps.impostor.size == 5 and ps.impostor_missing == 3  # 3-0, 3-1, 3-4


def test_pair_scores_euclidean() -> None:
    ps = cal.pair_scores(["x", "x", "y"], [[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], Metric.NEG_EUCLIDEAN)
    assert ps.genuine == pytest.approx([-5.0])
    assert ps.impostor == pytest.approx([-1.0, -math.sqrt(18.0)])


@pytest.mark.parametrize(
    ("thresholds", "false_pos", "false_neg"),
    [
        ([0.0], [1.0], [0.0]),
        ([0.5], [0.25], [1 / 3]),  # negatives above 0.5: 0.7; positives <= 0.5: 0.2
        ([0.6], [0.25], [2 / 3]),  # 0.6 itself is not above 0.6
        ([0.9], [0.0], [1.0]),
    ],
)
def test_det_curve(thresholds: list[float], false_pos: list[float], false_neg: list[float]) -> None:
    fp, fn = cal.det_curve([0.2, 0.6, 0.8], [0.1, 0.3, 0.5, 0.7], thresholds)
    assert fp == pytest.approx(false_pos)
    assert fn == pytest.approx(false_neg)


def test_det_thresholds_are_sorted_and_cover_the_rates() -> None:
    rng = np.random.default_rng(0)
    neg, pos = rng.normal(0, 1, 10_000), rng.normal(3, 1, 500)
    t = cal.det_thresholds(pos, neg, points=50)
    assert np.all(np.diff(t) > 0)
    fp, fn = cal.det_curve(pos, neg, t)
    assert fp[fp > 0].min() == 1e-4 and fn.min() == 0.0 and fn.max() == 1.0


# 1:N: people p (3 photos), q (2), r (1), s (2), t (1).
OS_LABELS = ["p", "p", "p", "q", "q", "r", "s", "s", "t"]


@pytest.mark.parametrize(
    ("n_enrolled", "valid", "gallery_people", "mated", "non_mated", "missing"),
    [
        (3, None, {"p", "q", "s"}, (1, 2, 4, 7), (5, 8), 0),  # the three with 2+ photos
        (5, None, {"p", "q", "r", "s", "t"}, (1, 2, 4, 7), (), 0),
        # q's first photo has no face: q now has one usable photo, so only p, s come first
        (2, [True, True, True, False, True, True, True, True, True], {"p", "s"}, (1, 2, 7),
         (4, 5, 8), 0),
        # p's last photo has no face: it is counted as a mated probe without a face
        (3, [True, True, False, True, True, True, True, True, True], {"p", "q", "s"}, (1, 4, 7),
         (5, 8), 1),
    ],
)
def test_open_set_split(
    n_enrolled: int,
    valid: list[bool] | None,
    gallery_people: set[str],
    mated: tuple[int, ...],
    non_mated: tuple[int, ...],
    missing: int,
) -> None:
    split = cal.open_set_split(OS_LABELS, n_enrolled, np.random.default_rng(0), valid)
    assert {OS_LABELS[i] for i in split.gallery} == gallery_people
    assert len(split.gallery) == n_enrolled
    assert split.mated == mated
    assert split.non_mated == non_mated
    assert split.mated_missing == missing


def test_open_set_split_picks_among_equals_with_the_rng() -> None:
    picks = {
        frozenset(OS_LABELS[i] for i in cal.open_set_split(OS_LABELS, 2, np.random.default_rng(s)).gallery)
        for s in range(20)
    }
    assert picks == {frozenset(x) for x in ({"p", "q"}, {"p", "s"}, {"q", "s"})}


def test_open_set_split_refuses_too_many() -> None:
    with pytest.raises(ValueError):
        cal.open_set_split(OS_LABELS, 6, np.random.default_rng(0))


# Gallery: g0 = A at (1, 0), g1 = B at (0, 1). Probes are unit vectors at these angles.
def _unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


ID_LABELS = ["A", "B", "A", "A", "B", "X", "Y"]
ID_EMB = np.array([_unit(0), _unit(90), _unit(10), _unit(60), _unit(80), _unit(45), _unit(180)])
ID_SPLIT = OpenSetSplit(gallery=(0, 1), mated=(2, 3, 4), non_mated=(5, 6))


def test_open_set_scores() -> None:
    sc = cal.open_set_scores(ID_LABELS, ID_EMB, ID_SPLIT, Metric.COSINE)
    # probe 2 (A at 10 deg) finds A; probe 3 (A at 60 deg) is nearer B: a miss at any
    # threshold; probe 4 (B at 80 deg) finds B
    assert sc.mated[0] == pytest.approx(math.cos(math.radians(10)))
    assert sc.mated[1] == -math.inf
    assert sc.mated[2] == pytest.approx(math.cos(math.radians(10)))
    assert sc.non_mated == pytest.approx([math.cos(math.radians(45)), 0.0])


@pytest.mark.parametrize(
    ("target", "threshold", "fpir", "fnir"),
    [
        (0.0, 0.7, 0.0, 1 / 3),  # cos 45 = 0.707 sets the bar; the out-ranked A is missed
        (0.5, 0.0, 0.5, 1 / 3),
        (1.0, -math.inf, 1.0, 1 / 3),  # even with no bar the out-ranked probe is a miss
    ],
)
def test_identification_point(target: float, threshold: float, fpir: float, fnir: float) -> None:
    sc = OpenSetScores(
        mated=np.array([0.98, -math.inf, 0.98]), non_mated=np.array([0.7, 0.0])
    )
    ip = cal.identification_point(sc, target)
    assert (ip.threshold, ip.fpir) == (threshold, fpir)
    assert ip.fnir == pytest.approx(fnir)
    assert cal.fnir_at(sc, 0.98) == 1.0  # equal to the threshold is not returned


def test_open_set_scores_refuses_a_mate_without_gallery_entry() -> None:
    bad = OpenSetSplit(gallery=(0,), mated=(4,), non_mated=(5,))
    with pytest.raises(ValueError):
        cal.open_set_scores(ID_LABELS, ID_EMB, bad, Metric.COSINE)
