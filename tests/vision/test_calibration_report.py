"""The calibration report end to end on the small labelled folder of real photos."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vision import calibration_report as report
from vision.calibrate import Metric

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
    s = report.run(report.SFaceEngine(), faces, out, cache_dir=tmp_path / "cache",
                   gallery_sizes=(2, 99))
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

    # a second run reads the cached embeddings: same numbers, no engine needed
    cached = report.extract(report.SFaceEngine(), faces, report.read_labels(faces),
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
