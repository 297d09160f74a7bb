"""The calibration report end to end on the small labelled folder of real photos."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vision import calibration_report as report
from vision.calibrate import Metric
from vision.engine import Metric as EngineMetric
from vision.faceworker import EngineOptions

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"


@pytest.fixture(scope="module")
def faces() -> Path:
    if not (FACES / "labels.csv").exists():
        pytest.skip(f"shared test data missing: {FACES} (see ../shared/README.md)")
    return FACES


def test_read_labels_skips_group_photos_and_duplicates(faces: Path) -> None:
    photos = report.read_labels(faces)
    files = [p.file for p in photos]
    assert "images/examples__two_people.jpg" not in files  # two people
    assert "images/tests__obama.jpg" not in files  # duplicate_of examples__obama.jpg
    assert len(files) == len(set(files)) == 16
    assert {p.person for p in photos} == {"alex_lacamoire", "joe_biden", "lin_manuel_miranda",
                                          "barack_obama"}


def test_sface_report_on_real_photos(faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    s = report.run(report.subject(EngineOptions()), faces, out, cache_dir=tmp_path / "cache",
                   gallery_sizes=(99,), targets=report.Targets(list_size=2))
    for name in ("det.png", "scores.png", "identification.png", "summary.json", "summary.txt"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "summary.json").read_text())["photos"] == 16
    assert s["no_face"]["count"] == 0
    v = s["verification"]
    assert v["genuine_pairs"] + v["impostor_pairs"] == 16 * 15 // 2
    for p in v["points"]:  # these photos separate perfectly
        assert p["tar"] == 1.0 and p["fmr"] == 0.0
    assert s["identification"][1] == {"gallery_size": 99, "skipped": "only 4 identities"}
    assert s["timing_ms"]["embed"]["n"] == 16
    assert "FMR <= 0.001" in (out / "summary.txt").read_text()
    # the chosen thresholds are distances (1 - the cosine score threshold) for the targets
    c = s["chosen"]
    assert c["metric"] == "cosine" and c["targets"] == {"fmr": 1e-3, "fpir": 1e-2, "list_size": 2}
    assert c["verify"]["threshold"] == pytest.approx(1 - c["verify"]["score_threshold"], abs=1e-4)
    assert "screen" in c and "verify" in c["criteria"]  # 2 enrolled: too few for the 1:N bar
    assert "screen" not in c["criteria"]
    assert "thresholds chosen" in (out / "summary.txt").read_text()

    # a second run reads the cached embeddings: same numbers, no engine needed
    cached = report.extract(report.subject(EngineOptions()), faces, report.read_labels(faces),
                            tmp_path / "cache")
    assert cached.valid.all()
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_evaluate_counts_photos_without_a_face() -> None:
    photos = [report.Photo(f"{i}.jpg", p) for i, p in enumerate("aabbc")]
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    valid = np.array([True, True, True, False, True])
    nan = np.full(5, math.nan)
    ex = report.Extracted([p.file for p in photos], emb, valid, valid.astype(np.int64),
                          np.ones(5), nan, np.ones(5), nan, nan, nan)
    s, pairs, _ = report.evaluate(photos, ex, Metric.COSINE, fmr_targets=(0.0,),
                                  gallery_sizes=(2,), seeds=(0,))
    assert s["no_face"] == {"count": 1, "files": ["3.jpg"]}
    assert (pairs.genuine.size, pairs.genuine_missing) == (1, 1)
    (p,) = s["verification"]["points"]
    assert p["fnmr"] == 0.0 and p["fnmr_counting_no_face"] == 0.5


def test_choose_converts_scores_to_distances_and_checks_the_bar() -> None:
    summary = {
        "verification": {"points": [{"target_fmr": 1e-3, "threshold": 0.36, "fmr": 1e-3, "fnmr": 0.012,
                                     "fnmr_counting_no_face": 0.015}]},
        "identification": [{"gallery_size": 1000, "splits": 5, "points": [{
            "target_fpir": 1e-2, "threshold": {"median": 0.46, "min": 0.45, "max": 0.47},
            "fpir": {"median": 0.01}, "fnir": {"median": 0.12, "min": 0.11, "max": 0.13},
            "fnir_counting_no_face": {"median": 0.12}}]}],
    }
    c = report.choose(summary, EngineMetric.COSINE, report.Targets())
    assert c["verify"]["threshold"] == pytest.approx(0.64) and c["screen"]["threshold"] == pytest.approx(0.54)
    assert c["criteria"]["verify"]["met"] is True  # 1.5% <= 2%
    assert c["criteria"]["screen"]["met"] is False  # 12% > 10%
    d = report.choose({**summary, "verification": {"points": [{**summary["verification"]["points"][0],
                                                               "threshold": -0.55}]}},
                      EngineMetric.EUCLIDEAN, report.Targets())
    assert d["verify"]["threshold"] == pytest.approx(0.55)  # dlib: the score is minus the distance


def test_crowd_counts_impostor_pairs_within_the_thresholds() -> None:
    # four registrants on a circle: a-b 0.01 apart in cosine distance (one person twice?), the rest far
    ang = np.radians([0.0, 8.1, 90.0, 200.0])
    emb = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    s, d = report.crowd(["a", "b", "c", "d"], emb, EngineMetric.COSINE, verify=0.6, screen=0.5)
    assert s["pairs"] == 6 and d.size == 6
    assert s["verify"]["false_matches"] == 1 and s["verify"]["fmr"] == pytest.approx(1 / 6)
    assert s["verify"]["holds"] is False
    assert s["screen"] == {"list_size": 3, "false_positives": 2, "fpir": 0.5}  # a and b find each other
    assert s["closest_pairs"][0]["a"] == "a" and s["closest_pairs"][0]["b"] == "b"
    assert s["closest_pairs"][0]["distance"] == pytest.approx(1 - np.cos(np.radians(8.1)), abs=1e-4)
    empty, _ = report.crowd([], np.zeros((0, 2)), EngineMetric.COSINE, verify=0.6, screen=0.5)
    assert empty["pairs"] == 0 and "verify" not in empty
