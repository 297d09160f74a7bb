"""Face engine against the shared photos (face_recognition's own test images)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision import dlibface as faces
from vision.dlibface import Box, FaceProblem, FaceResult

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FACES = SHARED / "faces"
IMAGES = FACES / "images"
QR_NO_FACE = SHARED / "qr" / "qrcode-1" / "1.png"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data missing: {path} (see ../shared/README.md)")
    return path


@dataclass(frozen=True)
class Photo:
    """One unique photo from labels.csv and its analysis."""

    name: str
    people: tuple[str, ...]
    n_faces: int
    result: FaceResult


@pytest.fixture(scope="module")
def photos() -> Iterator[dict[str, Photo]]:
    """Every unique photo in labels.csv analysed once (duplicates by content are skipped)."""
    labels = _need(FACES / "labels.csv")
    out: dict[str, Photo] = {}
    with labels.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["duplicate_of"]:
                continue
            name = Path(row["file"]).name
            rgb = faces.load_rgb(FACES / row["file"])
            out[name] = Photo(
                name, tuple(row["person"].split(";")), int(row["n_main_faces"]), faces.analyse(rgb)
            )
    yield out


def _enc(photos: dict[str, Photo], name: str) -> np.ndarray:
    enc = photos[name].result.encoding
    assert enc is not None, f"{name}: no encoding ({photos[name].result.problem})"
    return enc


# ---- face_recognition's reference facts -------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("examples__obama.jpg", "examples__obama2.jpg", True),
        ("examples__obama.jpg", "tests__obama3.jpg", True),
        ("examples__obama.jpg", "examples__biden.jpg", False),
    ],
)
def test_reference_pairs(photos: dict[str, Photo], a: str, b: str, same: bool) -> None:
    d = faces.distance(_enc(photos, a), _enc(photos, b))
    assert (d <= faces.DEFAULT_TOLERANCE) is same, f"{a} vs {b}: distance {d:.3f}"


def test_obama_has_exactly_one_face(photos: dict[str, Photo]) -> None:
    r = photos["examples__obama.jpg"].result
    assert r.faces == 1
    assert r.problem is None and r.ok
    assert r.encoding is not None and r.encoding.shape == (128,)


def test_two_people_is_multiple_faces_and_largest_is_encoded(photos: dict[str, Photo]) -> None:
    r = photos["examples__two_people.jpg"].result
    assert r.faces == 2
    assert r.problem is FaceProblem.MULTIPLE_FACES
    assert not r.ok
    # the larger face (right) is Biden's and is the one encoded; the other one is Obama's
    assert r.box is not None and r.box.left > 500
    assert (
        faces.distance(
            _enc(photos, "examples__two_people.jpg"), _enc(photos, "examples__biden.jpg")
        )
        <= 0.6
    )
    assert (
        faces.distance(
            _enc(photos, "examples__two_people.jpg"), _enc(photos, "examples__obama.jpg")
        )
        > 0.6
    )


def test_every_face_of_a_group_photo_can_be_encoded(photos: dict[str, Photo]) -> None:
    rgb = faces.load_rgb(IMAGES / "examples__two_people.jpg")
    boxes = sorted(faces.detect(rgb), key=lambda b: b.left)
    encs = [faces.encode(rgb, b) for b in boxes]
    assert len(encs) == 2
    assert faces.distance(encs[0], _enc(photos, "examples__obama.jpg")) <= 0.6
    assert faces.distance(encs[1], _enc(photos, "examples__biden.jpg")) <= 0.6


def test_every_single_face_photo_has_one_usable_face(photos: dict[str, Photo]) -> None:
    wrong = [
        f"{p.name}: faces={p.result.faces} problem={p.result.problem}"
        for p in photos.values()
        if p.n_faces == 1 and not (p.result.faces == 1 and p.result.ok)
    ]
    assert not wrong


def _pairs(photos: dict[str, Photo], same: bool) -> list[tuple[str, str, float]]:
    singles = [p for p in photos.values() if p.n_faces == 1]
    out = []
    for pa, pb in itertools.combinations(singles, 2):
        if (pa.people == pb.people) is same:
            out.append(
                (pa.name, pb.name, faces.distance(_enc(photos, pa.name), _enc(photos, pb.name)))
            )
    return out


def test_same_person_pairs_within_tolerance(photos: dict[str, Photo]) -> None:
    # partial faces (obama_partial_face*.jpg) are included: measured <= 0.5 against every Obama
    pairs = _pairs(photos, same=True)
    assert len(pairs) >= 30, "expected the 4 people x several photos of labels.csv"
    failures = [f"{a} vs {b}: {d:.3f}" for a, b, d in pairs if d > faces.DEFAULT_TOLERANCE]
    assert not failures


def test_different_person_pairs_beyond_tolerance(photos: dict[str, Photo]) -> None:
    pairs = _pairs(photos, same=False)
    assert len(pairs) >= 30
    failures = [f"{a} vs {b}: {d:.3f}" for a, b, d in pairs if d <= faces.DEFAULT_TOLERANCE]
    assert not failures


# ---- files, formats and problems ---------------------------------------------------------------


def test_rgba_png_compares_to_the_same_scene() -> None:
    png = _need(IMAGES / "tests__32bit.png")
    raw = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.shape[2] == 4, "fixture should really be RGBA"
    cmp = faces.compare_files(png, _need(IMAGES / "examples__obama2.jpg"))
    assert cmp["faces_a"] == 1 and cmp["faces_b"] == 1
    assert cmp["distance"] is not None and cmp["distance"] < 0.2
    assert cmp["same"] is True


def test_compare_files_different_people() -> None:
    cmp = faces.compare_files(
        _need(IMAGES / "examples__obama_small.jpg"),
        _need(IMAGES / "examples__lin-manuel-miranda.png"),
    )
    assert cmp["distance"] is not None and cmp["distance"] > 0.6
    assert cmp["same"] is False
    strict = faces.compare_files(
        IMAGES / "examples__obama_small.jpg",
        IMAGES / "examples__lin-manuel-miranda.png",
        tolerance=2.0,
    )
    assert strict["same"] is True  # the tolerance is what decides


def test_compare_files_with_no_face() -> None:
    cmp = faces.compare_files(_need(QR_NO_FACE), _need(IMAGES / "examples__obama_small.jpg"))
    assert cmp == {"faces_a": 0, "faces_b": 1, "distance": None, "same": False}


def test_qr_image_is_no_face() -> None:
    rgb = faces.load_rgb(_need(QR_NO_FACE))
    assert rgb.shape[1] <= faces.RETRY_WIDTH
    r = faces.analyse(rgb)
    assert r.problem is FaceProblem.NO_FACE
    assert r.faces == 0 and r.box is None and r.encoding is None
    assert r.retried  # small frame: one full-resolution retry
    assert r.encode_ms == 0.0


def _shrink(rgb: np.ndarray, width: int) -> np.ndarray:
    h = round(rgb.shape[0] * width / rgb.shape[1])
    return np.ascontiguousarray(cv2.resize(rgb, (width, h), interpolation=cv2.INTER_AREA))


def test_tiny_face_is_too_small() -> None:
    tiny = _shrink(faces.load_rgb(_need(IMAGES / "examples__obama.jpg")), 100)  # face ~36 px
    r = faces.analyse(tiny)
    assert r.problem is FaceProblem.FACE_TOO_SMALL
    assert r.faces == 1 and r.box is not None and r.box.width < 40
    assert r.encoding is None
    lenient = faces.analyse(tiny, min_face_px=20)
    assert lenient.problem is None and lenient.encoding is not None


@pytest.mark.parametrize(
    "name", ["examples__obama.jpg", "examples__two_people.jpg", "examples__obama-480p.jpg"]
)
def test_downscaled_boxes_overlap_full_resolution(name: str) -> None:
    rgb = faces.load_rgb(_need(IMAGES / name))
    assert rgb.shape[1] > 320
    small = faces.detect(rgb)
    full = faces.detect(rgb, detect_width=rgb.shape[1])
    assert len(small) == len(full) >= 1
    for fb in full:
        best = max(sb.iou(fb) for sb in small)
        assert best > 0.5, f"{name}: {fb} best IoU {best:.2f}"
        assert all(0 <= v for v in fb.css())


def test_encoding_matches_face_recognition_pipeline(photos: dict[str, Photo]) -> None:
    import face_recognition

    rgb = faces.load_rgb(IMAGES / "examples__obama.jpg")
    ref = face_recognition.face_encodings(rgb)[0]  # its own full-res detection
    ours = _enc(photos, "examples__obama.jpg")
    assert faces.distance(ours, ref) < 0.1
    assert faces.distance(ours, ref) == pytest.approx(
        float(face_recognition.face_distance([ours], ref)[0])
    )


def test_stage_timings_use_the_injected_clock() -> None:
    rgb = faces.load_rgb(_need(IMAGES / "examples__obama_small.jpg"))
    ticks = iter([10.0, 10.25, 20.0, 20.125])
    r = faces.analyse(rgb, clock=lambda: next(ticks))
    assert r.ok
    assert r.detect_ms == pytest.approx(250.0)
    assert r.encode_ms == pytest.approx(125.0)


# ---- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        (Box(0, 10, 10, 0), Box(0, 10, 10, 0), 1.0),
        (Box(0, 10, 10, 0), Box(0, 20, 10, 10), 0.0),
        (Box(0, 10, 10, 0), Box(0, 15, 10, 5), 50 / 150),
        (Box(0, 10, 10, 0), Box(20, 30, 30, 20), 0.0),
    ],
)
def test_box_iou(a: Box, b: Box, iou: float) -> None:
    assert a.iou(b) == pytest.approx(iou)
    assert b.iou(a) == pytest.approx(iou)


def test_box_sizes() -> None:
    b = Box(top=5, right=30, bottom=25, left=10)
    assert (b.width, b.height, b.area) == (20, 20, 400)
    assert Box(5, 5, 5, 10).area == 0


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
    ],
)
def test_rejects_non_rgb_frames(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        faces.analyse(bad)


def test_distance_is_euclidean() -> None:
    a = np.zeros(128)
    b = np.zeros(128)
    b[:4] = [1.0, 1.0, 1.0, 1.0]
    assert faces.distance(a, b) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        faces.distance(np.zeros(127), np.zeros(128))
