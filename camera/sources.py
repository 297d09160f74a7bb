"""Where a camera's frames come from: a folder of images (in name order), a video file, a
camera index or an RTSP/HTTP URL. Blocking iterators, read in the camera's analysis thread.

A folder or a video file is paced at `fps` (a file at its own rate unless told), so it plays
like a camera; a live source is read in its own thread that keeps only the newest frame, so a
slow analysis gets the latest picture, never a queue of stale ones (drops are counted).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from camera.errors import SourceError
from vision.errors import ImageError
from vision.image import Frame, read_file

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def paced(frames: Iterator[Frame], fps: float, stop: threading.Event,
          clock: Callable[[], float] = time.monotonic) -> Iterator[Frame]:
    """Yield frames no faster than fps (behind schedule: at once, never skipping)."""
    start = clock()
    for n, f in enumerate(frames):
        if stop.is_set():
            return
        wait = start + n / fps - clock()
        if wait > 0 and stop.wait(wait):
            return
        yield f


def folder_frames(folder: Path) -> Iterator[Frame]:
    """The folder's images in name order (unreadable files are skipped with a warning)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for p in files:
        try:
            yield read_file(p)
        except ImageError as err:
            log.warning("skipping %s: %s", p.name, err)


def _capture(target: int | str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        raise SourceError(f"cannot open video source {target!r}")
    return cap


def file_frames(path: str) -> tuple[Iterator[Frame], float]:
    """A video file's frames and its frame rate (0 when the file does not say)."""
    cap = _capture(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def frames() -> Iterator[Frame]:
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield np.asarray(frame, dtype=np.uint8)
        finally:
            cap.release()
    return frames(), fps


def live_frames(target: int | str, stop: threading.Event) -> Iterator[Frame]:
    """A live source's newest frames (a reader thread drops what the analysis cannot take)."""
    cap = _capture(target)
    latest: list[Frame] = []
    cond = threading.Condition()
    dropped = 0
    ended = threading.Event()

    def reader() -> None:
        nonlocal dropped
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                break
            with cond:
                dropped += len(latest)
                latest[:] = [np.asarray(frame, dtype=np.uint8)]
                cond.notify()
        ended.set()
        with cond:
            cond.notify()
        cap.release()

    threading.Thread(target=reader, name="camera-reader", daemon=True).start()
    while not stop.is_set():
        with cond:
            while not latest and not ended.is_set() and not stop.is_set():
                cond.wait(0.5)
            if not latest:
                break
            frame = latest.pop()
        yield frame
    if dropped:
        log.info("live source %s: %d stale frames dropped", target, dropped)


def open_frames(source: str, stop: threading.Event, fps: float | None = None) -> Iterator[Frame]:
    """Frames of a source given on the command line (see the module)."""
    if source.isdigit():
        return live_frames(int(source), stop)
    if _URL.match(source):
        return live_frames(source, stop)
    p = Path(source)
    if p.is_dir():
        return paced(folder_frames(p), fps or 10.0, stop)
    if p.is_file():
        frames, own = file_frames(source)
        return paced(frames, fps or own or 25.0, stop)
    raise SourceError(f"no such source: {source} (a folder of images, a video file, a camera index or a URL)")
