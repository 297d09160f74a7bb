"""YuNet on real photos: one face where there is one, two where there are two, none in a QR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support import read_bgr

from vision.yunet import YuNet, detections, nearest_centre

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IMAGES = SHARED / "faces" / "images"
QR_NO_FACE = SHARED / "qr" / "qrcode-1" / "1.png"


@pytest.mark.parametrize(
    ("path", "count"),
    [
        (IMAGES / "examples__obama.jpg", 1),
        (IMAGES / "examples__obama2.jpg", 1),
        (IMAGES / "examples__biden.jpg", 1),
        (IMAGES / "examples__obama_small.jpg", 1),
        (IMAGES / "examples__two_people.jpg", 2),
        (QR_NO_FACE, 0),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_face_count(yunet: YuNet, path: Path, count: int) -> None:
    faces = yunet.infer(read_bgr(path))
    assert faces.shape == (count, 15)
    assert faces.dtype == np.float32


def test_obama_has_exactly_one_face_with_landmarks_inside_it(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "examples__obama.jpg")
    (d,) = detections(yunet.infer(img))
    assert d.score > 0.9
    assert 150 < d.w < 350 and 150 < d.h < 450  # the face is ~230 x 320 px
    x, y = d.landmarks[:, 0], d.landmarks[:, 1]
    assert np.all((x > d.x) & (x < d.x + d.w) & (y > d.y) & (y < d.y + d.h))
    right_eye, left_eye, nose, mouth_r, mouth_l = d.landmarks
    assert right_eye[0] < left_eye[0] and mouth_r[0] < mouth_l[0]  # subject's right = image left
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])


def test_input_size_follows_the_frame(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "examples__obama.jpg")
    yunet.set_input_size((320, 320))
    assert yunet.input_size == (320, 320)
    small = np.asarray(cv2.resize(img, (455, 568)), dtype=np.uint8)
    assert len(yunet.infer(small)) == 1
    assert yunet.input_size == (455, 568)
    big = yunet.infer(img)
    assert yunet.input_size == (img.shape[1], img.shape[0])
    assert big[0, 0] == pytest.approx(2 * yunet.infer(small)[0, 0], abs=12)


@pytest.mark.parametrize(
    ("boxes", "size", "expected"),
    [
        ([], (100, 100), None),
        ([[40, 40, 20, 20]], (100, 100), 0),
        ([[0, 0, 30, 30], [35, 35, 30, 30], [70, 70, 30, 30]], (100, 100), 1),
        ([[0, 0, 90, 90], [80, 40, 20, 20]], (200, 100), 1),  # big but off-centre loses
    ],
)
def test_nearest_centre(boxes: list[list[float]], size: tuple[int, int], expected: int | None) -> None:
    faces = np.zeros((len(boxes), 15), dtype=np.float32)
    if boxes:
        faces[:, :4] = boxes
    assert nearest_centre(faces, *size) == expected


def test_two_people_nearest_centre_is_one_of_them(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "examples__two_people.jpg")
    faces = yunet.infer(img)
    i = nearest_centre(faces, img.shape[1], img.shape[0])
    assert i is not None
    cx = [d.centre[0] for d in detections(faces)]
    assert abs(cx[i] - img.shape[1] / 2) == min(abs(c - img.shape[1] / 2) for c in cx)
