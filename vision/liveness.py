"""Liveness from the frames a lane already sees: a frozen or injected still, a flat photo moved.

No model of its own: it reads what the face engine gives per frame (YuNet's five landmarks
and the 112 px aligned crop) over the scanned frame and the lane's recent frames. Pure
functions over `Observation`s, plus `observe` (detect + align one frame; runs in a face
worker, never on the event loop).

Signals (closed vocabulary `Spoof`):
  - STILL_REPEAT: every consecutive pair of at least MIN_FRAMES observed faces is the same
    picture — the grey aligned crops differ by less than STILL_CROP_MAD grey levels (mean
    absolute difference) and no landmark moved STILL_LANDMARK_PX or more. A camera looking at
    a person, even one standing still, never gives that: its sensor noise alone moves the crop
    by 1+ grey level (README, Face recognition: Liveness, measured on real photos with camera
    noise). A frozen feed or a still injected in place of the camera does.
  - PLANAR_MOTION (off by default; GateConfig.liveness_planar): the face turned out of the
    image plane between two frames (the eye-and-mouth quad changed by more than a similarity
    can explain, PLANAR_MIN_MOTION eye distances) and yet the nose tip stayed where a flat
    surface would put it — the homography of the four other points carries it to within
    PLANAR_MAX_PARALLAX eye distances. A printed photo or a screen moved in front of the camera
    follows one homography; a head has depth, so its nose shows parallax. Validated on the
    attack side only (real photos warped as a flat print moved in 3-D); there is no video of
    real people here to measure false alarms on, hence off by default.

Fewer than MIN_FRAMES observed faces give no signal (never a refusal). The blink signal from
dlib's 68-point model is not used: that model was trained on iBUG 300-W, whose licence
excludes commercial use (dlib-models README), although face_recognition_models ships it as CC0.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.engine import CONFIDENT_SCORE, Face, FaceEngine, Frame

MIN_FRAMES = 3  # observed faces (the scanned one and two recent) before any signal
STILL_CROP_MAD = 0.5  # grey levels: below it two 112 px aligned crops are the same picture
STILL_LANDMARK_PX = 0.5  # px: a landmark moving less than this has not moved
PLANAR_MIN_MOTION = 0.03  # eye distances: out-of-plane turn of the eye-mouth quad needed to judge
PLANAR_MAX_PARALLAX = 0.06  # eye distances: nose within this of the quad's homography is flat

_QUAD = (0, 1, 3, 4)  # YuNet order: right eye, left eye, (nose), right mouth corner, left mouth corner
_NOSE = 2


class Spoof(enum.StrEnum):
    """Why a lane's frames look like no live person (closed vocabulary; text lives elsewhere)."""

    STILL_REPEAT = "still_repeat"
    PLANAR_MOTION = "planar_motion"


@dataclass(frozen=True, slots=True)
class Observation:
    """One frame's face as liveness sees it."""

    landmarks: npt.NDArray[np.float64]  # (5, 2) YuNet order, full-frame pixels
    crop: npt.NDArray[np.uint8]  # the engine's aligned crop, grey


@dataclass(frozen=True, slots=True)
class Checks:
    """Which signals are on (GateConfig) and their limits."""

    still: bool = True
    planar: bool = False
    min_frames: int = MIN_FRAMES
    crop_mad: float = STILL_CROP_MAD
    landmark_px: float = STILL_LANDMARK_PX
    min_motion: float = PLANAR_MIN_MOTION
    max_parallax: float = PLANAR_MAX_PARALLAX

    @property
    def any(self) -> bool:
        return self.still or self.planar


def observe(engine: FaceEngine, bgr: Frame) -> Observation | None:
    """The largest confident face of a frame with landmarks, aligned; None without one."""
    faces = [f for f in engine.detect(bgr) if f.landmarks is not None]
    sure = [f for f in faces if f.score >= CONFIDENT_SCORE] or faces
    if not sure:
        return None
    return observation(engine, bgr, max(sure, key=lambda f: f.area))


def observation(engine: FaceEngine, bgr: Frame, face: Face | None) -> Observation | None:
    """A detected face as liveness sees it; None without a face or landmarks."""
    if face is None or face.landmarks is None:
        return None
    crop = engine.align(bgr, face)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return Observation(np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2),
                       np.ascontiguousarray(grey, dtype=np.uint8))


def crop_mad(a: Observation, b: Observation) -> float:
    """Mean absolute grey-level difference of two aligned crops (inf when shapes differ)."""
    if a.crop.shape != b.crop.shape:
        return float("inf")
    return float(np.mean(np.abs(a.crop.astype(np.int16) - b.crop.astype(np.int16))))


def landmark_move(a: Observation, b: Observation) -> float:
    """The largest displacement of any landmark between two frames, in pixels."""
    return float(np.max(np.hypot(*(a.landmarks - b.landmarks).T)))


def still_repeat(seq: Sequence[Observation], checks: Checks = Checks()) -> bool:
    """Every consecutive pair of at least `min_frames` faces is the same picture."""
    if len(seq) < checks.min_frames:
        return False
    return all(crop_mad(a, b) < checks.crop_mad and landmark_move(a, b) < checks.landmark_px
               for a, b in itertools.pairwise(seq))


def _eye_distance(p: npt.NDArray[np.float64]) -> float:
    return float(np.hypot(*(p[1] - p[0])))


def homography(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """The 3x3 homography taking four points onto four others (DLT, h33 = 1); None if degenerate."""
    a = np.zeros((8, 8))
    rhs = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -u * x, -u * y)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -v * x, -v * y)
        rhs[2 * i], rhs[2 * i + 1] = u, v
    if abs(np.linalg.det(a)) < 1e-9 or np.linalg.cond(a) > 1e12:
        return None
    h = np.linalg.solve(a, rhs)
    return np.append(h, 1.0).reshape(3, 3)


def _similarity_residual(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> float:
    """RMS residual of the best similarity (rotation, scale, shift) taking src onto dst."""
    s = src - src.mean(axis=0)
    d = dst - dst.mean(axis=0)
    zs = s[:, 0] + 1j * s[:, 1]
    zd = d[:, 0] + 1j * d[:, 1]
    denom = float(np.vdot(zs, zs).real)
    if denom == 0.0:
        return float("inf")
    k = np.vdot(zs, zd) / denom  # least-squares complex scale: rotation and scale
    return float(np.sqrt(np.mean(np.abs(zd - k * zs) ** 2)))


def parallax(a: Observation, b: Observation) -> tuple[float, float] | None:
    """(motion, parallax) from frame a to frame b, in b's eye distances: how far the eye-mouth
    quad moved beyond a similarity (out-of-plane turn), and how far the nose tip lies from
    where the quad's homography puts it (depth). None when the quad is degenerate."""
    eye = _eye_distance(b.landmarks)
    if eye <= 0.0 or _eye_distance(a.landmarks) <= 0.0:
        return None
    qa, qb = a.landmarks[list(_QUAD)], b.landmarks[list(_QUAD)]
    h = homography(qa, qb)
    if h is None:
        return None
    nx, ny, nw = h @ np.array([*a.landmarks[_NOSE], 1.0])
    if abs(nw) < 1e-9:
        return None
    off = float(np.hypot(nx / nw - b.landmarks[_NOSE][0], ny / nw - b.landmarks[_NOSE][1]))
    return _similarity_residual(qa, qb) / eye, off / eye


def planar_motion(seq: Sequence[Observation], checks: Checks = Checks()) -> bool:
    """At least `min_frames` faces, some pair of which turned out of plane by `min_motion`, and
    every such pair's nose follows the quad's homography within `max_parallax` (a flat face)."""
    if len(seq) < checks.min_frames:
        return False
    moved = [p for a, b in itertools.combinations(seq, 2)
             if (p := parallax(a, b)) is not None and p[0] >= checks.min_motion]
    return bool(moved) and all(off <= checks.max_parallax for _, off in moved)


def judge(observations: Sequence[Observation | None], checks: Checks = Checks()) -> Spoof | None:
    """The liveness signal of a lane's frames (the scanned one first), or None: too few faces
    observed, or nothing suspect. STILL_REPEAT is judged first."""
    seq = [o for o in observations if o is not None]
    if len(seq) < checks.min_frames:
        return None
    if checks.still and still_repeat(seq, checks):
        return Spoof.STILL_REPEAT
    if checks.planar and planar_motion(seq, checks):
        return Spoof.PLANAR_MOTION
    return None
