"""The face engine interface on the default engine (SFace) with the shared photos, and its pure parts.

face_recognition's own reference facts must hold on the default engine too, judged by the
engine's calibrated verify threshold (a distance: lower = more alike): obama vs obama2 and
obama vs obama3 match, obama vs biden does not, and obama.jpg shows exactly one face.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import shared

from vision.engine import (
    DEFAULT_ENGINE,
    SPECS,
    Choose,
    EngineName,
    Face,
    FaceEngine,
    FaceProblem,
    FaceResult,
    Metric,
    QualityBar,
    analyse,
    below_bar,
    distance,
    fuse,
    pick,
    spec,
)
from vision.faceworker import EngineOptions, engine, enrol
from vision.image import read_file
from vision.quality import Pose, Quality

ENGINE = spec(DEFAULT_ENGINE)


@pytest.fixture(scope="module")
def eng() -> FaceEngine:
    return engine(EngineOptions())


@dataclass(frozen=True)
class Photo:
    name: str
    people: tuple[str, ...]
    n_faces: int
    result: FaceResult


@pytest.fixture(scope="module")
def photos(eng: FaceEngine) -> Iterator[dict[str, Photo]]:
    """Every unique photo of labels.csv analysed once by the default engine (the gate's code)."""
    folder = shared("faces")
    out: dict[str, Photo] = {}
    with (folder / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["duplicate_of"]:
                continue
            name = Path(row["file"]).name
            res = analyse(eng, read_file(folder / row["file"]), min_face_px=1, bar=None)
            out[name] = Photo(name, tuple(row["person"].split(";")), int(row["n_main_faces"]), res)
    yield out


def _emb(photos: dict[str, Photo], name: str) -> np.ndarray:
    e = photos[name].result.embedding
    assert e is not None, f"{name}: {photos[name].result.problem}"
    return np.asarray(e)


def test_default_engine_is_sface_with_cosine_distances() -> None:
    assert DEFAULT_ENGINE is EngineName.SFACE
    assert (ENGINE.model_id, ENGINE.metric, ENGINE.dim) == ("sface-2021dec-int8bq", Metric.COSINE, 128)
    # the calibrated cosine similarities (vision/sface.py) as distances
    from vision.sface import THRESHOLD_FMR_1E3

    assert ENGINE.thresholds.verify == pytest.approx(1 - THRESHOLD_FMR_1E3)
    assert ENGINE.thresholds.screen < ENGINE.thresholds.verify  # 1:N is stricter
    assert "FMR 1e-3" in ENGINE.thresholds.verify_source
    assert SPECS[EngineName.DLIB].model_id == SPECS[EngineName.DLIB_NUMPY].model_id == "dlib-resnet-v1"


@pytest.mark.parametrize(("a", "b", "same"), [
    ("examples__obama.jpg", "examples__obama2.jpg", True),
    ("examples__obama.jpg", "tests__obama3.jpg", True),
    ("examples__obama.jpg", "examples__biden.jpg", False),
])
def test_reference_pairs(photos: dict[str, Photo], a: str, b: str, same: bool) -> None:
    d = ENGINE.distance(_emb(photos, a), _emb(photos, b))
    assert (d <= ENGINE.thresholds.verify) is same, f"{a} vs {b}: distance {d:.3f}"


def test_obama_has_exactly_one_face(photos: dict[str, Photo]) -> None:
    r = photos["examples__obama.jpg"].result
    assert r.faces == 1 and r.ok and r.model_id == ENGINE.model_id
    assert r.embedding is not None and r.embedding.shape == (ENGINE.dim,)
    assert np.linalg.norm(r.embedding) == pytest.approx(1.0, abs=1e-5)


def test_every_single_face_photo_has_one_usable_face(photos: dict[str, Photo]) -> None:
    # biden2.jpg: YuNet also "finds" two faces in the painting behind him (scores 0.63-0.69);
    # only detections scoring CONFIDENT_SCORE or more count as people
    wrong = [f"{p.name}: faces={p.result.faces} problem={p.result.problem}"
             for p in photos.values() if p.n_faces == 1 and not p.result.ok]
    assert not wrong


def test_two_people_is_multiple_faces_and_the_largest_is_embedded(photos: dict[str, Photo]) -> None:
    r = photos["examples__two_people.jpg"].result
    assert r.faces == 2 and r.problem is FaceProblem.MULTIPLE_FACES and not r.ok
    assert r.face is not None and r.face.x > 500  # the larger face, on the right, is Biden's
    d = ENGINE.distance
    assert d(_emb(photos, "examples__two_people.jpg"), _emb(photos, "examples__biden.jpg")) <= ENGINE.thresholds.verify
    assert d(_emb(photos, "examples__two_people.jpg"), _emb(photos, "examples__obama.jpg")) > ENGINE.thresholds.verify


def _pairs(photos: dict[str, Photo], same: bool) -> list[tuple[str, str, float]]:
    singles = [p for p in photos.values() if p.n_faces == 1]
    return [(a.name, b.name, ENGINE.distance(_emb(photos, a.name), _emb(photos, b.name)))
            for a, b in itertools.combinations(singles, 2) if (a.people == b.people) is same]


def test_same_person_pairs_within_the_verify_threshold(photos: dict[str, Photo]) -> None:
    pairs = _pairs(photos, same=True)
    assert len(pairs) >= 30
    assert not [f"{a} vs {b}: {d:.3f}" for a, b, d in pairs if d > ENGINE.thresholds.verify]


def test_different_person_pairs_beyond_the_verify_threshold(photos: dict[str, Photo]) -> None:
    pairs = _pairs(photos, same=False)
    assert len(pairs) >= 30
    # (and so beyond the stricter 1:N threshold: no watchlist hit between these people either)
    assert not [f"{a} vs {b}: {d:.3f}" for a, b, d in pairs if d <= ENGINE.thresholds.verify]


def test_qr_image_has_no_face(eng: FaceEngine) -> None:
    r = analyse(eng, read_file(shared("qr", "qrcode-1", "1.png")))
    assert (r.faces, r.problem, r.face, r.embedding, r.encode_ms) == (0, FaceProblem.NO_FACE, None, None, 0.0)


def test_tiny_face_is_too_small_and_is_not_embedded(eng: FaceEngine) -> None:
    img = read_file(shared("faces", "images", "examples__obama.jpg"))
    tiny = np.ascontiguousarray(cv2.resize(img, (100, round(img.shape[0] * 100 / img.shape[1])),
                                           interpolation=cv2.INTER_AREA))
    r = analyse(eng, tiny)
    assert r.problem is FaceProblem.FACE_TOO_SMALL and r.face is not None and r.face.size < ENGINE.min_face_px
    assert r.embedding is None
    assert analyse(eng, tiny, min_face_px=10).ok


def test_a_blurred_face_is_below_the_quality_bar(eng: FaceEngine) -> None:
    img = read_file(shared("faces", "images", "examples__obama.jpg"))
    blurred = np.ascontiguousarray(cv2.GaussianBlur(img, (0, 0), 8))
    r = analyse(eng, blurred, bar=QualityBar())
    assert r.problem is FaceProblem.FACE_POOR_QUALITY and r.embedding is None
    assert r.quality is not None and r.quality.sharpness < QualityBar().min_sharpness
    assert analyse(eng, blurred, bar=None).ok  # without the bar it is embedded


def test_enrolment_reports_image_and_face_problems() -> None:
    opts = EngineOptions()
    ok = enrol(shared("faces", "images", "examples__biden.jpg").read_bytes(), opts)
    assert ok.problem is None and ok.model_id == ENGINE.model_id and ok.result is not None
    bad = enrol(b"not an image", opts)
    assert (bad.problem, bad.result) == ("not_an_image", None)
    two = enrol(shared("faces", "images", "examples__two_people.jpg"), opts)
    assert two.problem == "multiple_faces"


def test_stage_timings_use_the_injected_clock(eng: FaceEngine) -> None:
    img = read_file(shared("faces", "images", "examples__obama_small.jpg"))
    ticks = iter([10.0, 10.25, 20.0, 20.125])
    r = analyse(eng, img, clock=lambda: next(ticks))
    assert r.ok and r.detect_ms == pytest.approx(250.0) and r.encode_ms == pytest.approx(125.0)


def test_the_dlib_engine_behind_the_same_interface(photos: dict[str, Photo]) -> None:
    """dlib stays selectable: same interface, its own model id, metric and thresholds."""
    dlib = engine(EngineOptions(EngineName.DLIB_NUMPY))
    img = read_file(shared("faces", "images", "examples__obama.jpg"))
    r = analyse(dlib, img)
    assert r.ok and r.model_id == "dlib-resnet-v1" and r.embedding is not None and r.embedding.shape == (128,)
    assert r.quality is not None and r.quality.pose is None  # HOG gives no landmarks for a pose
    other = analyse(dlib, read_file(shared("faces", "images", "examples__obama2.jpg")))
    biden = analyse(dlib, read_file(shared("faces", "images", "examples__biden.jpg")))
    s = dlib.spec
    assert s.metric is Metric.EUCLIDEAN
    assert s.distance(r.embedding, other.embedding) <= s.thresholds.verify
    assert s.distance(r.embedding, biden.embedding) > s.thresholds.verify
    # the same encoding face_recognition computes (its own detection at full resolution)
    import face_recognition

    ref = face_recognition.face_encodings(np.ascontiguousarray(img[:, :, ::-1]))[0]
    assert s.distance(r.embedding, ref) < 0.1
    # several chips at once (one at a time inside): each the encoding `embed` gives it
    imgs = [img, read_file(shared("faces", "images", "examples__biden.jpg"))]
    chips = [dlib.align(im, analyse(dlib, im).face) for im in imgs]  # type: ignore[arg-type]
    many = dlib.embed_many(chips)
    assert len(many) == 2 and all(np.array_equal(m, dlib.embed(c)) for m, c in zip(many, chips, strict=True))


# ---- pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "metric", "expected"), [
    ([1, 0], [1, 0], Metric.COSINE, 0.0),
    ([1, 0], [0, 2], Metric.COSINE, 1.0),
    ([1, 0], [-3, 0], Metric.COSINE, 2.0),
    ([0, 0], [1, 0], Metric.COSINE, 1.0),
    ([0, 0], [3, 4], Metric.EUCLIDEAN, 5.0),
])
def test_distance(a: list[float], b: list[float], metric: Metric, expected: float) -> None:
    assert distance(a, b, metric) == pytest.approx(expected)


def test_distance_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        distance(np.zeros(128), np.zeros(127), Metric.COSINE)
    with pytest.raises(ValueError):
        ENGINE.distance(np.ones(64), np.ones(64))  # not this model's dimension


@pytest.mark.parametrize(("ds", "best", "expected"), [
    ([0.3], 2, 0.3), ([0.5, 0.3], 2, 0.4), ([0.9, 0.3, 0.5], 2, 0.4), ([0.9, 0.3, 0.5], 3, 17 / 30),
    ([], 2, math.inf), ([math.inf, 0.2], 2, 0.2),
])
def test_fuse_is_the_mean_of_the_best(ds: list[float], best: int, expected: float) -> None:
    assert fuse(ds, best) == pytest.approx(expected)


def _face(x: float, y: float, w: float, score: float = 0.9) -> Face:
    return Face(x, y, w, w, score)


def test_pick_largest_or_nearest_the_centre() -> None:
    faces = [_face(0, 0, 50), _face(90, 90, 20), _face(150, 0, 60)]
    assert pick(faces, 200, 200, Choose.LARGEST) == 2
    assert pick(faces, 200, 200, Choose.CENTRE) == 1


@pytest.mark.parametrize(("sharp", "frontal", "below"), [
    (100.0, 0.8, False), (10.0, 0.8, True), (100.0, 0.05, True), (100.0, None, False), (25.0, 0.1, False),
])
def test_quality_bar(sharp: float, frontal: float | None, below: bool) -> None:
    pose = None if frontal is None else Pose(0.0, 0.0, 0.0, frontal)
    assert below_bar(Quality(100.0, 40.0, sharp, pose), QualityBar()) is below


def test_thresholds_can_be_overridden_and_say_so() -> None:
    th = ENGINE.thresholds.override(verify=0.5, source="gate configuration")
    assert (th.verify, th.verify_source, th.screen) == (0.5, "gate configuration", ENGINE.thresholds.screen)
    assert th.screen_source == ENGINE.thresholds.screen_source
    with pytest.raises(ValueError, match="sface"):
        spec("facenet")
