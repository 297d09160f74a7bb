"""Face engine: HOG detection on a downscaled frame, 128-d dlib encodings, 1:1 comparison.

Synchronous and CPU-bound (detection ~20-50 ms at 320-480 px wide, encoding ~20 ms per face
with the numpy engine, ~100 ms with dlib's): callers run these functions in an executor, never
on the event loop. face_recognition is imported on first use because loading its dlib models
takes ~1.4 s.

Detection policy (analyse):
  1. HOG on the frame downscaled to `detect_width` (if wider); boxes are scaled back to
     full-resolution coordinates.
  2. If that finds nothing, one retry at min(frame width, RETRY_WIDTH=640): for a frame at most
     640 wide this is the full resolution; for a wider frame it is a 640-wide copy, so the worst
     case stays bounded (~200 ms) however large the upload.
  3. Encoding always uses the full-resolution frame and the full-resolution box: dlib's 5-point
     landmarks and aligned 150x150 chip, then the descriptor network, by default evaluated
     with numpy (vision/encoder.py: same weights and output as dlib's, ~5x faster here); dlib's
     own implementation is the fallback and stays selectable (Engine.DLIB).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TypedDict

import cv2
import numpy as np
import numpy.typing as npt

from vision.encoder import DescriptorNet, ModelFormatError
from vision.image import Frame, read_file, to_rgb

log = logging.getLogger(__name__)

Encoding = npt.NDArray[np.float64]

ENCODING_DIM = 128
DEFAULT_TOLERANCE = 0.6  # face_recognition's 1:1 tolerance
RETRY_WIDTH = 640


class Engine(StrEnum):
    """Which implementation evaluates the descriptor network (both give the same encoding)."""

    NUMPY = "numpy"
    DLIB = "dlib"


SELF_CHECK_TOLERANCE = 1e-4  # max |numpy - dlib| per component on the self-check chip (seen: ~5e-7)


class FaceProblem(StrEnum):
    """Why a frame gives no usable single face (closed vocabulary; text lives elsewhere)."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"


@dataclass(frozen=True, slots=True)
class Box:
    """A face box in pixel coordinates (face_recognition's css order), bottom/right exclusive."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        """Horizontal size in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Vertical size in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Area in pixels (0 for a degenerate box)."""
        return max(0, self.width) * max(0, self.height)

    def css(self) -> tuple[int, int, int, int]:
        """As face_recognition's (top, right, bottom, left) tuple."""
        return (self.top, self.right, self.bottom, self.left)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0.0 when disjoint)."""
        iw = min(self.right, other.right) - max(self.left, other.left)
        ih = min(self.bottom, other.bottom) - max(self.top, other.top)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)


@dataclass(frozen=True, slots=True)
class FaceResult:
    """Outcome of analysing one frame: the largest face, its encoding and any problem."""

    faces: int
    box: Box | None
    encoding: Encoding | None
    problem: FaceProblem | None
    detect_ms: float
    encode_ms: float
    retried: bool = False

    @property
    def ok(self) -> bool:
        """Exactly one usable face was found and encoded."""
        return self.problem is None and self.encoding is not None


class Comparison(TypedDict):
    """Result of compare_files (JSON-ready)."""

    faces_a: int
    faces_b: int
    distance: float | None
    same: bool


@cache
def _fr() -> ModuleType:
    """face_recognition, imported on first use (loading its models takes ~1.4 s)."""
    import face_recognition

    return face_recognition


def _check_rgb(rgb: Frame) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {rgb.shape} {rgb.dtype}")


def _detect_at(rgb: Frame, width: int, upsample: int = 1) -> list[Box]:
    """HOG at `width` pixels wide (never upscaled), boxes in full-resolution coordinates.

    `upsample` is dlib's pyramid upsampling: 1 finds faces down to ~40 px at that width
    (and costs 4x the pixels), 0 only faces of ~80 px and more."""
    h, w = rgb.shape[:2]
    if width <= 0 or w <= width:
        return [Box(*loc) for loc in _fr().face_locations(rgb, upsample)]
    sh = max(1, round(h * width / w))
    small = cv2.resize(rgb, (width, sh), interpolation=cv2.INTER_AREA)
    sx, sy = w / width, h / sh
    boxes = []
    for top, right, bottom, left in _fr().face_locations(small, upsample):
        boxes.append(
            Box(
                top=max(0, round(top * sy)),
                right=min(w, round(right * sx)),
                bottom=min(h, round(bottom * sy)),
                left=max(0, round(left * sx)),
            )
        )
    return boxes


def detect(rgb: Frame, *, detect_width: int = 320) -> list[Box]:
    """Face boxes (full-resolution coordinates) found by HOG on a copy at most detect_width wide."""
    _check_rgb(rgb)
    return _detect_at(rgb, detect_width)


def detect_with_retry(rgb: Frame, *, detect_width: int = 320, upsample: int = 1) -> tuple[list[Box], bool]:
    """Boxes by `analyse`'s policy (HOG at detect_width, one retry at up to RETRY_WIDTH when
    nothing is found); and whether the retry ran."""
    boxes = _detect_at(rgb, detect_width, upsample)
    w = rgb.shape[1]
    retry_width = min(w, RETRY_WIDTH)
    if not boxes and retry_width > min(w, detect_width):
        return _detect_at(rgb, retry_width), True
    return boxes, False


@cache
def numpy_net() -> DescriptorNet | None:
    """The numpy descriptor network, or None (logged) when it cannot stand in for dlib's.

    Checked once per process: one pseudo-random chip through both implementations must agree
    to SELF_CHECK_TOLERANCE, so a model file or dlib release this module does not know falls
    back to dlib instead of producing different encodings."""
    import face_recognition_models

    fr = _fr()
    try:
        net = DescriptorNet.from_file(face_recognition_models.face_recognition_model_location())
    except (OSError, ModelFormatError) as e:
        log.warning("numpy face encoder unavailable, using dlib's: %s", e)
        return None
    chip = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    ref = np.asarray(fr.api.face_encoder.compute_face_descriptor(chip), dtype=np.float64)
    diff = float(np.abs(net(chip) - ref).max())
    if not diff <= SELF_CHECK_TOLERANCE:
        log.warning("numpy face encoder differs from dlib's by %.2g, using dlib's", diff)
        return None
    return net


def chip(rgb: Frame, box: Box) -> Frame:
    """dlib's aligned 150x150 RGB chip of the face in `box` (5-point landmarks, padding 0.25)."""
    import dlib

    shape = _fr().api.pose_predictor_5_point(rgb, dlib.rectangle(box.left, box.top, box.right, box.bottom))
    return np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25), dtype=np.uint8)


def describe(face_chip: Frame, *, engine: Engine = Engine.NUMPY) -> Encoding:
    """The 128-d encoding of an aligned chip (numpy network, or dlib's own)."""
    net = numpy_net() if engine is Engine.NUMPY else None
    if net is None:
        ref = _fr().api.face_encoder.compute_face_descriptor(face_chip)
        return np.asarray(ref, dtype=np.float64)
    return net(face_chip)


def encode(rgb: Frame, box: Box, *, engine: Engine = Engine.NUMPY) -> Encoding:
    """128-d dlib encoding of the face in `box`, computed on the full-resolution RGB frame."""
    _check_rgb(rgb)
    fr = _fr()
    net = numpy_net() if engine is Engine.NUMPY else None
    if net is None:
        encs = fr.face_encodings(rgb, known_face_locations=[box.css()])
        return np.asarray(encs[0], dtype=np.float64)
    import dlib  # what face_recognition.face_encodings does, up to the network itself

    shape = fr.api.pose_predictor_5_point(rgb, dlib.rectangle(box.left, box.top, box.right, box.bottom))
    chip = np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25), dtype=np.uint8)
    return net(chip)


def analyse(
    rgb: Frame,
    *,
    detect_width: int = 320,
    upsample: int = 1,
    min_face_px: int = 40,
    engine: Engine = Engine.NUMPY,
    clock: Callable[[], float] = time.perf_counter,
) -> FaceResult:
    """Detect, pick the largest face and encode it; report NO_FACE / FACE_TOO_SMALL / MULTIPLE_FACES.

    A face is usable when its full-resolution box is at least min_face_px wide and high.
    NO_FACE: nothing detected. FACE_TOO_SMALL: faces detected but none usable (no encoding).
    MULTIPLE_FACES: more than one usable face; the largest is still encoded so the caller may
    show it to a steward. `faces` counts every detected box, usable or not.
    """
    _check_rgb(rgb)
    t0 = clock()
    boxes, retried = detect_with_retry(rgb, detect_width=detect_width, upsample=upsample)
    detect_ms = (clock() - t0) * 1000.0
    if not boxes:
        return FaceResult(0, None, None, FaceProblem.NO_FACE, detect_ms, 0.0, retried)
    largest = max(boxes, key=lambda b: b.area)
    usable = [b for b in boxes if b.width >= min_face_px and b.height >= min_face_px]
    if not usable:
        return FaceResult(
            len(boxes), largest, None, FaceProblem.FACE_TOO_SMALL, detect_ms, 0.0, retried
        )
    t1 = clock()
    encoding = encode(rgb, largest, engine=engine)
    encode_ms = (clock() - t1) * 1000.0
    problem = FaceProblem.MULTIPLE_FACES if len(usable) > 1 else None
    return FaceResult(len(boxes), largest, encoding, problem, detect_ms, encode_ms, retried)


def distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance between two encodings (what face_recognition.face_distance computes)."""
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    if va.shape != (ENCODING_DIM,) or vb.shape != (ENCODING_DIM,):
        raise ValueError(f"encodings must be ({ENCODING_DIM},), got {va.shape} and {vb.shape}")
    return float(np.linalg.norm(va - vb))


def load_rgb(path: str | Path) -> Frame:
    """Read an image file (JPEG, PNG incl. RGBA) as an RGB frame; raises gate.errors.ImageError."""
    return to_rgb(read_file(path))


def compare_files(
    a: str | Path, b: str | Path, *, tolerance: float = DEFAULT_TOLERANCE, detect_width: int = 320
) -> Comparison:
    """1:1 comparison of the largest face in each file; `same` when distance <= tolerance."""
    ra = analyse(load_rgb(a), detect_width=detect_width, min_face_px=1)
    rb = analyse(load_rgb(b), detect_width=detect_width, min_face_px=1)
    d: float | None = None
    if ra.encoding is not None and rb.encoding is not None:
        d = distance(ra.encoding, rb.encoding)
    return {
        "faces_a": ra.faces,
        "faces_b": rb.faces,
        "distance": d,
        "same": d is not None and d <= tolerance,
    }
