"""Screening extrapolation: distances, distractors, FPIR/FNIR from searches and the binomial model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision import screening as scr
from vision.index import DistanceMetric


def test_distances_match_the_index_conventions() -> None:
    a = np.array([[3.0, 4.0], [1.0, 0.0]])
    b = np.array([[0.0, 0.0], [0.0, 2.0]])
    assert scr.distances(a, b, DistanceMetric.EUCLIDEAN) == pytest.approx(
        np.array([[5.0, math.sqrt(13.0)], [1.0, math.sqrt(5.0)]]))
    c = scr.distances(a, np.array([[3.0, 4.0], [0.0, 1.0]]), DistanceMetric.COSINE)
    assert c == pytest.approx(np.array([[0.0, 0.2], [0.4, 1.0]]))


@pytest.mark.parametrize("metric", [DistanceMetric.COSINE, DistanceMetric.EUCLIDEAN])
def test_distractors_reproduce_mean_and_covariance(metric: DistanceMetric) -> None:
    rng = np.random.default_rng(1)
    mix = rng.normal(0, 1, (16, 16))
    real = rng.normal(0, 1, (4000, 16)) @ mix * 0.1 + 0.5
    model = scr.fit_distractors(real, metric)
    draws = scr.draw_distractors(model, 20_000, rng, chunk=3000)
    assert draws.dtype == np.float32 and draws.shape == (20_000, 16)
    if metric is DistanceMetric.COSINE:
        assert np.linalg.norm(draws, axis=1) == pytest.approx(1.0, abs=1e-5)
        real = real / np.linalg.norm(real, axis=1, keepdims=True)
    assert np.abs(draws.mean(axis=0) - real.mean(axis=0)).max() < 0.02
    # pair distances: the synthetic bulk sits where the real one does
    d_real = scr.distances(real[:300], real[300:600], metric).ravel()
    d_syn = scr.distances(draws[:300], draws[300:600], metric).ravel()
    assert np.median(d_syn) == pytest.approx(np.median(d_real), rel=0.05)
    with pytest.raises(ValueError):
        scr.fit_distractors(real[:1], metric)


def test_distractor_fmr_counts_pairs_within_each_threshold() -> None:
    probes = np.array([[0.0], [10.0]])
    distractors = np.array([[1.0], [2.0], [12.0], [30.0]])
    fmr = scr.distractor_fmr(probes, distractors, [0.5, 1.0, 2.0, 100.0], DistanceMetric.EUCLIDEAN,
                             block=1)
    assert fmr == [0.0, 1 / 8, 3 / 8, 1.0]


def test_threshold_at_fpir_and_open_set_rates() -> None:
    non_mated = np.array([0.9, 0.3, 0.5, 0.7, 0.8, 0.6, 0.95, 0.85, 0.75, 0.65])
    t = scr.threshold_at_fpir(non_mated, 0.1)  # one of ten may hit: just under the second best
    assert 0.3 < t < 0.5 and t == pytest.approx(0.5)
    assert scr.threshold_at_fpir(non_mated, 0.0) < 0.3
    assert scr.threshold_at_fpir(non_mated, 1.0) == math.inf
    r = scr.open_set_rates([0.2, 0.4, 0.45, 0.1], [True, True, True, False], non_mated, t)
    assert (r.fpir, r.fnir) == (0.1, 0.25)  # 0.45 is within t (just under 0.5); 0.1 is not the mate
    r = scr.open_set_rates([0.2, 0.4, 0.45, 0.1], [True, True, True, False], non_mated, 0.3)
    assert (r.fpir, r.fnir) == (0.1, 0.75)


def test_binomial_fpir_and_fnir() -> None:
    assert scr.fpir_binomial(0.0, 10**6) == 0.0
    assert scr.fpir_binomial(1e-6, 10**6) == pytest.approx(1 - math.exp(-1), rel=1e-6)
    assert scr.fpir_binomial(0.01, 1) == pytest.approx(0.01)
    assert scr.fpir_binomial(1.0, 5) == 1.0
    imp = np.sort(np.linspace(0.0, 1.0, 1001)[1:])  # 1,000 impostor distances, 0.001 apart
    # one entry: the mate alone decides
    assert scr.fnir_binomial([0.2, 0.6], imp, 0.5, 1) == pytest.approx(0.5)
    # 101 entries: a mate at 0.2 survives 100 impostors with p(<0.2) = 0.199 each
    want = 1 - 0.5 * (1 - 0.199) ** 100
    assert scr.fnir_binomial([0.2, 0.6], imp, 0.5, 101) == pytest.approx(want, rel=1e-9)
    assert scr.below(imp, 0.2) == pytest.approx(0.2)
    assert scr.below(imp, 0.2, strict=True) == pytest.approx(0.199)


def test_binomial_threshold_and_its_resolution() -> None:
    imp = np.sort(np.random.default_rng(2).uniform(0, 1, 100_000))
    t = scr.threshold_for_fpir_binomial(imp, 100, 0.01)
    assert t is not None
    assert scr.fpir_binomial(scr.below(imp, t), 100) <= 0.01
    assert scr.fpir_binomial(scr.below(imp, float(np.nextafter(t, 2.0)) + 1e-4), 100) > 0.0099
    # FPIR 1% at 10M entries needs p ~1e-9: one pair in 100,000 cannot show it
    assert scr.threshold_for_fpir_binomial(imp, 10_000_000, 0.01) is None
