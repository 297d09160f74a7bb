"""SFace on real photos: alignment, embeddings, and the calibrated thresholds."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from support import read_bgr

from vision.models import SFACE, locate
from vision.sface import (
    CROP_SIZE,
    TEMPLATE,
    THRESHOLD_FMR_1E3,
    THRESHOLD_FMR_1E4,
    SFace,
    align,
    landmarks_of,
    match,
    similarity_transform,
)
from vision.yunet import YuNet, nearest_centre

IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "images"

# (photo, person): every pair of these is checked against the thresholds
PHOTOS = [
    ("examples__obama.jpg", "obama"),
    ("examples__obama2.jpg", "obama"),
    ("tests__obama3.jpg", "obama"),
    ("examples__obama_small.jpg", "obama"),
    ("tests__obama_partial_face.jpg", "obama"),
    ("examples__biden.jpg", "biden"),
    ("knn__train__biden__biden2.jpg", "biden"),
    ("examples__alex-lacamoire.png", "alex"),
    ("knn__train__alex_lacamoire__img1.jpg", "alex"),
    ("examples__lin-manuel-miranda.png", "lin"),
]


@pytest.fixture(scope="module")
def sface() -> SFace:
    return SFace()


@pytest.fixture(scope="module")
def embeddings(yunet: YuNet, sface: SFace) -> dict[str, npt.NDArray[np.float32]]:
    out = {}
    for name, _ in PHOTOS:
        img = read_bgr(IMAGES / name)
        faces = yunet.infer(img)
        i = nearest_centre(faces, img.shape[1], img.shape[0])
        assert i is not None, name
        out[name] = sface.infer(img, faces[i])
    return out


def test_thresholds_are_ordered() -> None:
    assert 0.0 < THRESHOLD_FMR_1E3 < THRESHOLD_FMR_1E4 < 1.0


def test_obama_vs_obama2_is_genuine_and_vs_biden_is_not(
    embeddings: dict[str, npt.NDArray[np.float32]],
) -> None:
    obama, obama2, biden = (
        embeddings[n] for n in ("examples__obama.jpg", "examples__obama2.jpg", "examples__biden.jpg")
    )
    assert match(obama, obama2) > THRESHOLD_FMR_1E4
    assert match(obama, biden) < THRESHOLD_FMR_1E3
    assert match(obama2, biden) < THRESHOLD_FMR_1E3


@pytest.mark.parametrize(
    ("a", "b"), list(itertools.combinations(PHOTOS, 2)), ids=lambda p: p[0].split("__")[-1]
)
def test_every_pair_lands_on_its_side(
    embeddings: dict[str, npt.NDArray[np.float32]], a: tuple[str, str], b: tuple[str, str]
) -> None:
    score = match(embeddings[a[0]], embeddings[b[0]])
    if a[1] == b[1]:
        assert score > THRESHOLD_FMR_1E4
    else:
        assert score < THRESHOLD_FMR_1E3


def test_embedding_is_unit_float32(embeddings: dict[str, npt.NDArray[np.float32]]) -> None:
    for e in embeddings.values():
        assert e.shape == (128,) and e.dtype == np.float32
        assert float(np.linalg.norm(e)) == pytest.approx(1.0, abs=1e-5)


def test_same_crop_same_embedding_and_row_or_landmarks(yunet: YuNet, sface: SFace) -> None:
    img = read_bgr(IMAGES / "examples__obama.jpg")
    row = yunet.infer(img)[0]
    a = sface.infer(img, row)
    b = sface.infer(img, landmarks_of(row))
    assert match(a, b) == pytest.approx(1.0, abs=1e-6)
    assert sface.infer_all(img, yunet.infer(img)) == pytest.approx(a[None, :], abs=1e-6)


@pytest.mark.parametrize(
    ("angle_deg", "scale", "shift"),
    [(0.0, 1.0, (0.0, 0.0)), (30.0, 2.0, (5.0, -7.0)), (-75.0, 0.4, (100.0, 20.0))],
)
def test_similarity_transform_recovers_an_exact_similarity(
    angle_deg: float, scale: float, shift: tuple[float, float]
) -> None:
    a = math.radians(angle_deg)
    m = np.array([[scale * math.cos(a), -scale * math.sin(a), shift[0]],
                  [scale * math.sin(a), scale * math.cos(a), shift[1]]])
    src = TEMPLATE @ m[:, :2].T + m[:, 2]
    # the transform from src back onto the template is the inverse of m
    back = similarity_transform(src)
    assert back[:, :2] @ src.T + back[:, 2:] == pytest.approx(TEMPLATE.T, abs=1e-9)


def test_align_matches_opencv_aligncrop(yunet: YuNet) -> None:
    """Our alignment equals cv2.FaceRecognizerSF.alignCrop up to rounding."""
    ref = cv2.FaceRecognizerSF.create(str(locate(SFACE)), "")
    for name in ("examples__obama.jpg", "examples__biden.jpg", "examples__two_people.jpg"):
        img = read_bgr(IMAGES / name)
        for row in yunet.infer(img):
            ours = align(img, landmarks_of(row)).astype(np.int16)
            theirs = np.asarray(ref.alignCrop(img, row), dtype=np.int16)
            assert ours.shape == theirs.shape == (CROP_SIZE, CROP_SIZE, 3)
            assert int(np.abs(ours - theirs).max()) <= 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([1.0, 0.0], [2.0, 0.0], 1.0), ([1.0, 0.0], [0.0, 3.0], 0.0), ([1.0, 0.0], [-1.0, 0.0], -1.0),
     ([0.0, 0.0], [1.0, 0.0], 0.0)],
)
def test_match_is_cosine(a: list[float], b: list[float], expected: float) -> None:
    va = np.array(a, dtype=np.float32)
    vb = np.array(b, dtype=np.float32)
    assert match(va, vb) == pytest.approx(expected)
    assert match(vb, va) == pytest.approx(expected)


def test_a_batch_of_crops_gives_each_crop_s_own_embedding(yunet: YuNet, sface: SFace) -> None:
    """cv2.dnn runs the SFace graph on a blob of N crops: on 24 LFW faces, in batches of 2, 3 and
    all at once, every row equals that crop embedded alone within float rounding (the same
    face, the same decision at any threshold); the engine's embed_many and infer_all likewise."""
    from support import shared

    from vision.engine import Choose, assess, embed_results
    from vision.sface_engine import SFaceEngine

    lfw = shared("faces-lfw")
    files = [line.split(",")[0] for line in (lfw / "labels.csv").read_text().splitlines()[1:]][::200][:24]
    crops, frames = [], []
    for name in files:
        img = read_bgr(lfw / name)
        faces = yunet.infer(img)
        i = nearest_centre(faces, img.shape[1], img.shape[0])
        assert i is not None, name
        crops.append(align(img, landmarks_of(faces[i])))
        frames.append(img)
    alone = np.stack([sface.embed_aligned(c) for c in crops])
    for size in (2, 3, len(crops)):
        for s in range(0, len(crops), size):
            batch = sface.embed_aligned_many(crops[s : s + size])
            assert batch.shape == (len(crops[s : s + size]), 128) and batch.dtype == np.float32
            assert np.abs(batch - alone[s : s + size]).max() < 1e-5, (size, s)
            assert all(match(b, a) > 1.0 - 1e-6 for b, a in zip(batch, alone[s : s + size], strict=True))
    assert sface.embed_aligned_many([]).shape == (0, 128)
    eng = SFaceEngine()
    assert np.abs(np.stack(eng.embed_many(crops[:3])) - alone[:3]).max() < 1e-5
    results = [assess(eng, f, choose=Choose.CENTRE) for f in frames[:3]]
    embedded = embed_results(eng, list(zip(frames[:3], results, strict=True)))
    assert all(r.embedding is not None and r.encode_ms > 0 for r in embedded)
    assert np.abs(np.stack([r.embedding for r in embedded]) - alone[:3]).max() < 1e-5  # type: ignore[arg-type]
    img = read_bgr(IMAGES / "examples__obama.jpg")
    rows = yunet.infer(img)
    assert sface.infer_all(img, rows) == pytest.approx(np.stack([sface.infer(img, r) for r in rows]), abs=1e-5)
