"""Face analysis off the event loop and off the main interpreter.

dlib's detector and encoder are neither thread-safe nor GIL-free: two threads calling them
at once can corrupt memory, and threads give no parallelism anyway. The gate therefore runs
face analysis either in one dedicated thread (face_workers=0: serialised, safe) or in a pool
of worker processes (face_workers=N), each with its own copy of the models.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from gate.faces import FaceResult, analyse
from gate.image import Frame, to_rgb


def analyse_frame(frame: Frame, detect_width: int, upsample: int = 1) -> FaceResult:
    """BGR frame -> FaceResult (runs in a worker; picklable in and out)."""
    return analyse(to_rgb(frame), detect_width=detect_width, upsample=upsample)


def _warm() -> None:
    import numpy as np

    analyse(np.zeros((64, 64, 3), dtype=np.uint8), detect_width=64)  # loads dlib's models once


def face_executor(workers: int, name: str) -> Executor:
    """One serialising thread (workers=0) or a pool of spawned worker processes."""
    if workers <= 0:
        return ThreadPoolExecutor(1, thread_name_prefix=f"{name}-faces")
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_warm)
