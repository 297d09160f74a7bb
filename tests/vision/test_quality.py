"""Face quality on real photos (size, sharpness, pose) and on hand-placed landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from support import read_bgr

from vision.quality import FRONTAL_NOSE_DROP, Quality, face_crop, pose, quality, sharpness
from vision.yunet import YuNet, nearest_centre

IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "images"


def _face(yunet: YuNet, img: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    faces = yunet.infer(img)
    i = nearest_centre(faces, img.shape[1], img.shape[0])
    assert i is not None
    return np.asarray(faces[i], dtype=np.float32)


def _quality(yunet: YuNet, img: npt.NDArray[np.uint8]) -> Quality:
    return quality(img, _face(yunet, img))


def test_face_size_follows_the_resolution_ladder(yunet: YuNet) -> None:
    """The same video frame at 240p, 480p, 720p and 1080p: sizes in proportion."""
    ladder = [_quality(yunet, read_bgr(IMAGES / f"examples__obama-{r}.jpg")) for r in ("240p", "480p", "720p", "1080p")]
    px = [q.face_px for q in ladder]
    eyes = [q.eye_distance_px for q in ladder]
    assert px == sorted(px) and eyes == sorted(eyes)
    assert px[-1] / px[0] == pytest.approx(1080 / 240, rel=0.15)
    assert eyes[-1] / eyes[0] == pytest.approx(1080 / 240, rel=0.15)


@pytest.mark.parametrize(("sigma", "at_most"), [(2.0, 0.3), (4.0, 0.1)])
def test_blur_lowers_sharpness(yunet: YuNet, sigma: float, at_most: float) -> None:
    img = read_bgr(IMAGES / "examples__obama.jpg")
    row = _face(yunet, img)
    blurred = np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)
    assert quality(blurred, row).sharpness < at_most * quality(img, row).sharpness


def test_sharpness_of_a_flat_image_is_zero() -> None:
    assert sharpness(np.full((50, 50), 128, dtype=np.uint8)) == 0.0
    assert sharpness(np.zeros((0, 0), dtype=np.uint8)) == 0.0


@pytest.mark.parametrize(
    "name", ["examples__obama.jpg", "examples__obama_small.jpg", "examples__obama-480p.jpg"]
)
def test_frontal_photos_score_high(yunet: YuNet, name: str) -> None:
    p = _quality(yunet, read_bgr(IMAGES / name)).pose
    assert p.frontal > 0.75
    assert abs(p.roll_deg) < 5 and abs(p.yaw) < 0.1


def test_rotating_the_photo_shows_as_roll(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "examples__obama.jpg")
    h, w = img.shape[:2]
    before = _quality(yunet, img).pose
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # 20 degrees anticlockwise on screen
    turned = np.asarray(cv2.warpAffine(img, m, (w, h)), dtype=np.uint8)
    after = _quality(yunet, turned).pose
    assert after.roll_deg - before.roll_deg == pytest.approx(-20, abs=3)
    assert after.frontal == pytest.approx(before.frontal, abs=0.1)


def test_mirroring_the_photo_mirrors_yaw_and_roll(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "examples__obama2.jpg")  # head turned a little (yaw ~ -0.15)
    a = _quality(yunet, img).pose
    b = _quality(yunet, np.asarray(cv2.flip(img, 1), dtype=np.uint8)).pose
    assert b.yaw == pytest.approx(-a.yaw, abs=0.05)
    assert a.roll_deg > 5 and b.roll_deg < -5  # landmark noise: a few degrees either way
    assert b.roll_deg == pytest.approx(-a.roll_deg, abs=4)


def test_a_face_cut_by_the_edge_still_gets_a_quality(yunet: YuNet) -> None:
    img = read_bgr(IMAGES / "tests__obama_partial_face.jpg")
    row = _face(yunet, img)
    crop = face_crop(img, row)
    assert 0 < crop.shape[0] <= img.shape[0] and 0 < crop.shape[1] <= img.shape[1]
    assert quality(img, row).sharpness > 0


def _landmarks(yaw: float = 0.0, drop: float = FRONTAL_NOSE_DROP, roll_deg: float = 0.0) -> np.ndarray:
    """Eyes 40 px apart, mouth 40 px below them, the nose where yaw and drop put it."""
    pts = np.array([[-20.0, 0.0], [20.0, 0.0], [40.0 * yaw, 40.0 * drop], [-15.0, 40.0], [15.0, 40.0]])
    a = np.radians(roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.asarray(pts @ rot.T + [100.0, 80.0], dtype=np.float64)


@pytest.mark.parametrize(
    ("landmarks", "roll", "yaw", "pitch", "frontal"),
    [
        (_landmarks(), 0.0, 0.0, 0.0, 1.0),
        (_landmarks(roll_deg=30), 30.0, 0.0, 0.0, 1.0),  # roll alone is not non-frontal
        (_landmarks(roll_deg=-45), -45.0, 0.0, 0.0, 1.0),
        (_landmarks(yaw=0.25), 0.0, 0.25, 0.0, 0.5),
        (_landmarks(yaw=-0.25, roll_deg=10), 10.0, -0.25, 0.0, 0.5),
        (_landmarks(yaw=0.6), 0.0, 0.6, 0.0, 0.0),  # past the limit
        (_landmarks(drop=FRONTAL_NOSE_DROP + 0.175), 0.0, 0.0, 0.175, 0.5),
        (_landmarks(yaw=0.25, drop=FRONTAL_NOSE_DROP - 0.175), 0.0, 0.25, -0.175, 0.25),
    ],
)
def test_pose_from_landmarks(
    landmarks: np.ndarray, roll: float, yaw: float, pitch: float, frontal: float
) -> None:
    p = pose(landmarks)
    assert p.roll_deg == pytest.approx(roll, abs=1e-9)
    assert p.yaw == pytest.approx(yaw, abs=1e-9)
    assert p.pitch == pytest.approx(pitch, abs=1e-9)
    assert p.frontal == pytest.approx(frontal, abs=1e-9)


def test_pose_of_degenerate_landmarks_is_not_frontal() -> None:
    assert pose(np.zeros((5, 2))).frontal == 0.0
