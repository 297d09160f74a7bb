"""Frame sources for a gate: an OpenCV capture (camera index, video file, RTSP/HTTP URL) or a
folder that scanners drop images into. Each is an async iterator of Captured frames.

Capture sources read in their own thread and keep only the newest frame: a slow consumer
gets the latest picture, never a queue of stale ones (dropped frames are counted). A video
file is paced at its own frame rate by default so it behaves like a camera.

Folder sources pick up new image files as they appear (once their size is stable), yield
them in name order and then move them to `done/` (or `failed/` when not an image), so a
restarted gate never decides the same file twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from gate.errors import SourceError
from vision.errors import ImageError
from vision.image import Frame, read_file

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@dataclass(frozen=True, slots=True)
class Captured:
    """One frame from a source: pixels (BGR), wall-clock capture time, and where it came from."""

    frame: Frame
    at: float
    label: str  # file name, or "<source>#<frame number>"
    seq: int  # frame number within the source (0-based)


class FrameSource(Protocol):
    """Anything that yields captured frames."""

    def __aiter__(self) -> AsyncIterator[Captured]: ...


class CaptureSource:
    """OpenCV VideoCapture in a reader thread; only the newest frame is kept (see module doc)."""

    def __init__(self, target: int | str, *, pace: bool | None = None, open_timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.target = target
        self.is_file = isinstance(target, str) and not _URL.match(target)
        if self.is_file and not Path(str(target)).is_file():
            raise SourceError(f"video file not found: {target}")
        self.pace = self.is_file if pace is None else pace
        self.open_timeout_s = open_timeout_s
        self.clock = clock
        self.read = 0  # frames read from the device
        self.dropped = 0  # frames replaced by a newer one before anybody took them
        self._lock = threading.Lock()
        self._slot: Captured | None = None
        self._stop = threading.Event()
        self._error: str | None = None

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video source {self.target!r}")
        return cap

    def _reader(self, cap: cv2.VideoCapture, wake: Callable[[], None]) -> None:
        fps = cap.get(cv2.CAP_PROP_FPS) if self.pace else 0.0
        period = 1.0 / fps if fps and fps > 0 else 0.0
        t_next = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, frame = cap.read()
                if not ok or frame is None:
                    if not self.is_file:
                        self._error = f"video source {self.target!r} stopped delivering frames"
                    break
                item = Captured(np.ascontiguousarray(frame, dtype=np.uint8), self.clock(),
                                f"{self.target}#{self.read}", self.read)
                with self._lock:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = item
                self.read += 1
                wake()
                if period:
                    t_next += period
                    delay = t_next - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
        except Exception as err:  # noqa: BLE001 - reported to the consumer as a SourceError
            self._error = f"reading {self.target!r} failed: {err}"
        finally:
            cap.release()
            self._stop.set()
            wake()

    def _take(self) -> Captured | None:
        with self._lock:
            item, self._slot = self._slot, None
        return item

    async def __aiter__(self) -> AsyncGenerator[Captured, None]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.open_timeout_s):
                cap = await loop.run_in_executor(None, self._open)
        except TimeoutError:
            raise SourceError(f"opening {self.target!r} took longer than {self.open_timeout_s} s") from None
        ready = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # loop closed while the thread finished
                pass

        self._stop.clear()
        thread = threading.Thread(target=self._reader, args=(cap, wake), daemon=True,
                                  name=f"source-{self.target}")
        thread.start()
        try:
            while True:
                item = self._take()
                if item is not None:
                    yield item
                    continue
                if self._stop.is_set():
                    item = self._take()  # a last frame may have landed before the stop
                    if item is not None:
                        yield item
                        continue
                    if self._error:
                        raise SourceError(self._error)
                    return
                ready.clear()  # then re-check: a wake-up after this clear is not lost
                if self._slot is None and not self._stop.is_set():
                    await ready.wait()
        finally:
            self._stop.set()
            await loop.run_in_executor(None, thread.join)


class FolderSource:
    """New image files in a folder, in name order; each moved to done/ or failed/ after use."""

    def __init__(self, folder: str | Path, *, poll_s: float = 0.2, once: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"folder not found: {self.folder}")
        self.done = self.folder / "done"
        self.failed = self.folder / "failed"
        self.poll_s = poll_s
        self.once = once  # stop when the folder is empty (batch mode, tests)
        self.clock = clock
        self.seq = 0
        self.failures = 0

    def _listing(self) -> dict[Path, int]:
        try:
            return {p: p.stat().st_size for p in self.folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}
        except OSError as err:
            raise SourceError(f"cannot list {self.folder}: {err.strerror}") from err

    @staticmethod
    def _move(path: Path, to: Path) -> None:
        to.mkdir(exist_ok=True)
        try:
            path.replace(to / path.name)
        except FileNotFoundError:  # somebody else took it
            pass

    async def __aiter__(self) -> AsyncGenerator[Captured, None]:
        loop = asyncio.get_running_loop()
        seen: dict[Path, int] = {}  # size of each file at the previous poll
        while True:
            now = await loop.run_in_executor(None, self._listing)
            # a file is ready once its size held for one poll (a writer may still be at it)
            ready = sorted(p for p, size in now.items() if seen.get(p) == size)
            seen = now
            if not ready:
                if self.once and not now:
                    return
                await asyncio.sleep(self.poll_s)
                continue
            for path in ready:
                try:
                    frame = await loop.run_in_executor(None, read_file, path)
                except ImageError as err:
                    log.warning("folder source: %s is not usable (%s): moved to failed/", path.name, err.code)
                    self.failures += 1
                    await loop.run_in_executor(None, self._move, path, self.failed)
                    continue
                item = Captured(frame, self.clock(), path.name, self.seq)
                self.seq += 1
                try:
                    yield item
                finally:
                    await loop.run_in_executor(None, self._move, path, self.done)
                seen.pop(path, None)


def open_source(spec: str) -> CaptureSource | FolderSource:
    """A source from a CLI spec: a folder path, a camera index ("0"), a video file or a URL."""
    if spec.isdigit():
        return CaptureSource(int(spec))
    if _URL.match(spec):
        return CaptureSource(spec)
    p = Path(spec)
    if p.is_dir():
        return FolderSource(p)
    if p.is_file():
        return CaptureSource(str(p))
    raise SourceError(f"no such source: {spec!r} (give a folder, a camera index, a video file or a URL)")
