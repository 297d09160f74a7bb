"""Face analysis off the event loop and off the main interpreter.

dlib's detector and encoder are neither thread-safe nor GIL-free: two threads calling them
at once can corrupt memory, and threads give no parallelism anyway. The gate therefore runs
face analysis either in one dedicated thread (face_workers=0: serialised, safe) or in a pool
of worker processes (face_workers=N), each with its own copy of the models. A worker process
limits BLAS (used by the numpy descriptor network) to one thread: N workers on N cores, not
N x cores threads competing.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from vision.dlibface import Engine, FaceResult, analyse, numpy_net
from vision.image import Frame, to_rgb


def analyse_frame(frame: Frame, detect_width: int, upsample: int = 1,
                  engine: Engine = Engine.NUMPY) -> FaceResult:
    """BGR frame -> FaceResult (runs in a worker; picklable in and out)."""
    return analyse(to_rgb(frame), detect_width=detect_width, upsample=upsample, engine=engine)


def prime(engine: Engine = Engine.NUMPY) -> None:
    """Load dlib's models and (numpy engine) the descriptor weights with their self-check."""
    import numpy as np

    analyse(np.zeros((64, 64, 3), dtype=np.uint8), detect_width=64)
    if engine is Engine.NUMPY:
        numpy_net()


def _warm(engine: Engine) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # this process is one of N face workers: one core each
    prime(engine)


def face_executor(workers: int, name: str, engine: Engine = Engine.NUMPY) -> Executor:
    """One serialising thread (workers=0) or a pool of spawned worker processes, each primed
    for `engine` as it starts."""
    if workers <= 0:
        return ThreadPoolExecutor(1, thread_name_prefix=f"{name}-faces")
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_warm,
                               initargs=(engine,))
