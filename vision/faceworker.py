"""Face analysis off the event loop and off the main interpreter, for any engine.

Model inference never runs on an event loop. The gate, the registration import and the
watchlist upload run it either in one dedicated thread (workers=0: serialised) or in a pool
of spawned worker processes (workers=N), each with its own copy of the models. Engines are
cached per thread (`engine()`): OpenCV's dnn networks and dlib's models are not safe to
share between threads, and dlib holds the GIL, so parallel work uses processes. A worker
process limits BLAS and OpenCV to one thread: N workers on N cores, not N x cores threads.

Every function here that a pool runs is module-level and takes and returns picklable
values (frames as numpy arrays, results as frozen dataclasses).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vision.engine import (
    DEFAULT_BAR,
    DEFAULT_ENGINE,
    EngineName,
    FaceEngine,
    FaceProblem,
    FaceResult,
    QualityBar,
    analyse,
    spec,
)
from vision.errors import ImageError
from vision.image import Frame, decode_bytes, read_file
from vision.lane import BEST_FRAMES, LaneFaces, analyse_lane, assess_recent
from vision.liveness import Observation, observation


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Which engine a worker loads, with its detection settings."""

    name: EngineName = DEFAULT_ENGINE
    detect_width: int | None = None  # detect on a copy at most this large (None: EngineSpec.detect_px)
    upsample: int = 0  # dlib only: HOG pyramid upsampling


_local = threading.local()


def load(opts: EngineOptions) -> FaceEngine:
    """A new engine instance (loads its models: ~0.1 s for SFace, ~1.5 s for dlib)."""
    size = opts.detect_width or spec(opts.name).detect_px
    if opts.name is EngineName.SFACE:
        from vision.sface_engine import SFaceEngine

        return SFaceEngine(max_side=size)
    from vision.dlib_engine import DlibEngine

    return DlibEngine(opts.name, detect_width=size, upsample=opts.upsample)


def engine(opts: EngineOptions) -> FaceEngine:
    """This thread's engine for `opts`, loaded on first use."""
    cache: dict[EngineOptions, FaceEngine] | None = getattr(_local, "engines", None)
    if cache is None:
        cache = _local.engines = {}
    found = cache.get(opts)
    if found is None:
        found = cache[opts] = load(opts)
    return found


def analyse_frames(frames: tuple[Frame, ...], opts: EngineOptions, bar: QualityBar | None = DEFAULT_BAR,
                   best: int = BEST_FRAMES, scan: FaceResult | None = None,
                   recent: tuple[FaceResult, ...] | None = None) -> LaneFaces:
    """A lane's frames (the scanned one first) -> the best ones embedded (runs in a worker);
    `scan`, `recent`: results of the scanned and recent frames from earlier passes, not redone."""
    return analyse_lane(engine(opts), frames, bar=bar, best=best, scan=scan, recent=recent)


def analyse_scan(frame: Frame, opts: EngineOptions, bar: QualityBar | None = DEFAULT_BAR,
                 observe_it: bool = False) -> tuple[LaneFaces, Observation | None]:
    """The scanned frame alone (analyse_frames on it) and, when `observe_it`, its face as
    liveness sees it (runs in a worker)."""
    eng = engine(opts)
    lane = analyse_lane(eng, (frame,), bar=bar)
    return lane, observation(eng, frame, lane.scan.face) if observe_it else None


def analyse_recent(frames: tuple[Frame, ...], opts: EngineOptions, bar: QualityBar | None = DEFAULT_BAR,
                   embed: int = 0, observe_them: bool = True,
                   ) -> tuple[tuple[FaceResult, ...], tuple[Observation | None, ...]]:
    """Ahead of need, beside the scanned frame's analysis (runs in another worker): a lane's
    recent frames assessed, the best `embed` embedded, and (`observe_them`) their faces as
    liveness sees them."""
    eng = engine(opts)
    rest = assess_recent(eng, frames, bar=bar, embed=embed)
    seen = tuple(observation(eng, f, r.face) for f, r in zip(frames, rest, strict=True)) if observe_them else ()
    return rest, seen


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A registration or watchlist photo made into an embedding, or why it cannot be."""

    model_id: str
    result: FaceResult | None  # None when the image itself is unusable
    image_problem: str | None = None  # vision.errors code: empty_image, not_an_image, ...
    image_detail: str = ""

    @property
    def problem(self) -> str | None:
        """An image error code, a FaceProblem value, or None when the embedding is usable."""
        if self.image_problem is not None:
            return self.image_problem
        assert self.result is not None
        return None if self.result.ok else (self.result.problem or FaceProblem.NO_FACE).value


def enrol(image: bytes | Path, opts: EngineOptions, bar: QualityBar | None = DEFAULT_BAR) -> Enrolment:
    """The one face of an enrolment photo (file or bytes), at the engine's enrolment size
    and quality bar (runs in a worker)."""
    eng = engine(opts)
    try:
        bgr = read_file(image) if isinstance(image, Path) else decode_bytes(image)
    except ImageError as err:
        return Enrolment(eng.spec.model_id, None, err.code, str(err))
    return Enrolment(eng.spec.model_id, analyse(eng, bgr, min_face_px=eng.spec.enrol_min_face_px, bar=bar))


def prime(opts: EngineOptions) -> str:
    """Load this worker's engine and run it once; its model id."""
    import numpy as np

    eng = engine(opts)
    analyse(eng, np.zeros((64, 64, 3), dtype=np.uint8))
    return eng.spec.model_id


def _warm(opts: EngineOptions) -> None:
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # this process is one of N face workers: one core each
    cv2.setNumThreads(1)
    prime(opts)


def face_executor(workers: int, name: str, opts: EngineOptions | None = None) -> Executor:
    """One serialising thread (workers=0) or a pool of spawned worker processes, each loading
    the engine of `opts` as it starts."""
    opts = opts or EngineOptions()
    if workers <= 0:
        return ThreadPoolExecutor(1, thread_name_prefix=f"{name}-faces")
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_warm,
                               initargs=(opts,))
