"""Face quality from a detection: size in pixels, sharpness, and how frontal the pose is.

Pure array maths (numpy, plus cv2.Laplacian on a crop): no model, no I/O. Landmarks are
YuNet's five points in its order: right eye, left eye, nose tip, right mouth corner, left
mouth corner (the subject's right, i.e. the image's left, comes first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

# Where YuNet's nose point sits between the eye line (0) and the mouth line (1) when the
# head is level: the median over 1,081 LFW photos (every 5th of faces-lfw; IQR 0.53-0.58).
# YuNet puts the nose tip lower than the ArcFace alignment template does (0.495).
FRONTAL_NOSE_DROP = 0.557
YAW_LIMIT = 0.5  # nose offset / eye distance at which frontal-ness reaches 0 (~45 degrees)
PITCH_LIMIT = 0.35  # nose drop deviation at which frontal-ness reaches 0


@dataclass(frozen=True)
class Pose:
    """Head pose proxies from five landmarks (no 3-D model)."""

    roll_deg: float  # angle of the eye line; 0 = level
    yaw: float  # nose offset from the eyes' midline, per eye distance; 0 = frontal
    pitch: float  # nose drop between eye line and mouth line minus the frontal value
    frontal: float  # 1 = frontal, 0 = yaw or pitch at or beyond its limit


@dataclass(frozen=True)
class Quality:
    """What a steward or an enrolment check needs to judge a face photo."""

    face_px: float  # the smaller side of the detection box, in pixels
    eye_distance_px: float  # nan without landmarks
    sharpness: float  # variance of the Laplacian of the grey face crop
    pose: Pose | None  # None when the detector gives no five landmarks (dlib's HOG)

    @property
    def frontal(self) -> float:
        """Pose.frontal, or nan without a pose."""
        return self.pose.frontal if self.pose is not None else math.nan


def pose(landmarks: npt.ArrayLike) -> Pose:
    """Roll, yaw and pitch proxies and a frontal-ness score in [0, 1] from five points."""
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    right_eye, left_eye, nose, mouth_r, mouth_l = p
    eye_vec = left_eye - right_eye
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist == 0.0:
        return Pose(0.0, 0.0, 0.0, 0.0)
    roll = math.atan2(float(eye_vec[1]), float(eye_vec[0]))
    c, s = math.cos(-roll), math.sin(-roll)
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (right_eye + left_eye) / 2
    q = (p - eye_mid) @ rot.T  # eye line along +x, origin between the eyes
    nose_q = q[2]
    mouth_y = float((q[3, 1] + q[4, 1]) / 2)
    yaw = float(nose_q[0] / eye_dist)
    drop = float(nose_q[1] / mouth_y) if mouth_y > 0 else math.inf
    pitch = drop - FRONTAL_NOSE_DROP
    frontal = max(0.0, 1.0 - abs(yaw) / YAW_LIMIT) * max(0.0, 1.0 - abs(pitch) / PITCH_LIMIT)
    return Pose(math.degrees(roll), yaw, pitch, frontal)


def sharpness(gray: npt.NDArray[np.uint8]) -> float:
    """Variance of the Laplacian (3x3) of a grey image: low = blurred or flat."""
    if gray.size == 0:
        return 0.0
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def face_crop(bgr: npt.NDArray[np.uint8], face: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """The grey pixels inside a YuNet box (clipped to the frame)."""
    row = np.asarray(face, dtype=np.float64).reshape(-1)
    h, w = bgr.shape[:2]
    x0, y0 = max(0, int(row[0])), max(0, int(row[1]))
    x1, y1 = min(w, int(math.ceil(row[0] + row[2]))), min(h, int(math.ceil(row[1] + row[3])))
    crop = bgr[y0:y1, x0:x1]
    if crop.size == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return np.asarray(gray, dtype=np.uint8)


def quality(bgr: npt.NDArray[np.uint8], face: npt.ArrayLike, sharp_size: int = 112) -> Quality:
    """Quality of one YuNet row (15 numbers) in `bgr`.

    Sharpness is measured on the box resized to `sharp_size` pixels square, so that faces
    of different sizes compare on one scale (a large face is not "sharper" for its size)."""
    row = np.asarray(face, dtype=np.float64).reshape(-1)
    return of_box(bgr, row[:4], row[4:14].reshape(5, 2), sharp_size)


def of_box(bgr: npt.NDArray[np.uint8], box: npt.ArrayLike, landmarks: npt.ArrayLike | None = None,
           sharp_size: int = 112) -> Quality:
    """Quality of the face in `box` (x, y, w, h); pose and eye distance only with five
    YuNet-ordered landmarks."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)[:4]
    gray = face_crop(bgr, b)
    if gray.size:
        interp = cv2.INTER_AREA if min(gray.shape) > sharp_size else cv2.INTER_LINEAR
        gray = np.asarray(cv2.resize(gray, (sharp_size, sharp_size), interpolation=interp))
    lm = None if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    return Quality(
        face_px=float(min(b[2], b[3])),
        eye_distance_px=float(np.hypot(*(lm[1] - lm[0]))) if lm is not None else math.nan,
        sharpness=sharpness(gray),
        pose=pose(lm) if lm is not None else None,
    )


# Ranking frames of one lane: a face this large and this sharp is as good as any for the
# models (SFace aligns to 112 px; LFW's median sharpness on that crop is 114).
RANK_FACE_PX = 112.0
RANK_SHARPNESS = 100.0


def rank(q: Quality) -> float:
    """How good a frame's face is for recognition, in [0, 1]: size, sharpness and frontal-ness
    (each saturating at a level beyond which the models gain little) multiplied."""
    size = min(1.0, q.face_px / RANK_FACE_PX) if q.face_px > 0 else 0.0
    sharp = min(1.0, q.sharpness / RANK_SHARPNESS) if q.sharpness > 0 else 0.0
    frontal = q.pose.frontal if q.pose is not None else 1.0
    return size * sharp * frontal
