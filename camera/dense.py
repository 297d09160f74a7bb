"""Dense-crowd counting beside the per-frame analysis: CSRNet on the newest frame, in its own
thread (cv2.dnn releases the GIL, so it runs on another core), never queueing frames: while
the network is busy (3-6 s per 640x480 frame on one core) newer frames are not offered,
and an interval's region counts are those of the latest finished run.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from camera.counting import Frame, RegionCounter, RegionEstimate
from camera.csrnet import CSRNet, region_counts
from eventguard.config import Camera


class DenseCounter:
    """Counts a camera's regions with CSRNet, one frame at a time, off the caller's thread."""

    def __init__(self, cam: Camera, regions: RegionCounter) -> None:
        self.cam = cam
        self._regions = regions
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="camera-csrnet")
        self._local = threading.local()
        self._running: Future[tuple[RegionEstimate, ...]] | None = None
        self._latest: tuple[RegionEstimate, ...] | None = None
        self.runs = 0
        self.skipped = 0

    def _count(self, frame: Frame) -> tuple[RegionEstimate, ...]:
        net = getattr(self._local, "net", None)
        if net is None:  # built in the worker thread: a dnn net is not shared between threads
            net = self._local.net = CSRNet(self.cam.image_size)
        density = net.infer(frame)
        counts = region_counts(density, [mask for _, mask, _ in self._regions.regions])
        return tuple(RegionEstimate(zone, count, area)
                     for (zone, _, area), count in zip(self._regions.regions, counts, strict=True))

    def _collect(self) -> None:
        if self._running is not None and self._running.done():
            self._latest = self._running.result()
            self._running = None
            self.runs += 1

    def offer(self, frame: Frame) -> bool:
        """Start counting this frame if the network is free (True), else drop it (False)."""
        self._collect()
        if self._running is not None:
            self.skipped += 1
            return False
        self._running = self._pool.submit(self._count, frame.copy())
        return True

    def take(self, wait_s: float = 0.0) -> tuple[RegionEstimate, ...] | None:
        """The latest finished counts not yet taken (waiting up to wait_s for a run in progress)."""
        if self._running is not None and wait_s > 0:
            try:
                self._running.exception(timeout=wait_s)
            except TimeoutError:
                pass
        self._collect()
        out, self._latest = self._latest, None
        return out

    def close(self) -> None:
        """Stop the worker (a run in progress finishes)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
