"""One camera's frame analysis and its per-interval summary (pure: frames in, numbers out).

Each frame goes through the background model once; the mask feeds both the region counter
(camera.counting) and the line counter (camera.lines). An interval's summary is the mean count
per zone over its frames and the crossings summed per line. Frames of another size than the
camera's configured image_size are resized to it first (regions, lines and calibration points
are in those pixels). Blocking and CPU-bound: call it from a worker thread, never the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from camera.counting import AreaRegression, ForegroundModel, Frame, RegionCounter, RegionEstimate
from camera.lines import Crossings, LineCounter
from eventguard.config import Camera


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What one frame showed (counts are None during the background model's warm-up)."""

    regions: tuple[RegionEstimate, ...] | None
    crossings: tuple[Crossings, ...]


class Analyzer:
    """Background model + region counter + line counter of one camera."""

    def __init__(self, cam: Camera, *, regression: AreaRegression | None = None,
                 foreground: ForegroundModel | None = None, line_counter: LineCounter | None = None) -> None:
        self.cam = cam
        self.foreground = foreground or ForegroundModel()
        self.regions = RegionCounter(cam, regression)
        self.lines = line_counter or LineCounter(cam.lines)

    def process(self, frame: Frame) -> FrameResult:
        """Analyse one BGR (or grey) frame."""
        w, h = self.cam.image_size
        if frame.shape[1] != w or frame.shape[0] != h:
            frame = np.asarray(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        fg = self.foreground.apply(frame)
        if not self.foreground.warm:
            return FrameResult(None, ())
        return FrameResult(tuple(self.regions.count(fg)), tuple(self.lines.step(fg)))


@dataclass(frozen=True, slots=True)
class ZoneSummary:
    """A zone over an interval: mean people seen, floor covered, density."""

    zone: str
    count: float
    area_m2: float

    @property
    def density(self) -> float:
        """Persons per m² of the floor the camera covers in this zone."""
        return self.count / self.area_m2 if self.area_m2 > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Summary:
    """One interval of one camera."""

    frames: int
    zones: tuple[ZoneSummary, ...]
    crossings: tuple[Crossings, ...]


@dataclass
class Accumulator:
    """Collects frame results until an interval is taken."""

    frames: int = 0
    _counts: dict[str, list[float]] = field(default_factory=dict)  # zone -> [sum of counts, area]
    _fwd: dict[str, int] = field(default_factory=dict)
    _back: dict[str, int] = field(default_factory=dict)

    def add(self, r: FrameResult) -> None:
        """Fold in one frame (warm-up frames are skipped)."""
        if r.regions is None:
            return
        self.frames += 1
        per_zone: dict[str, list[float]] = {}
        for e in r.regions:  # several regions of one zone add up
            acc = per_zone.setdefault(e.zone, [0.0, 0.0])
            acc[0] += e.count
            acc[1] += e.area_m2
        for zone, (count, area) in per_zone.items():
            tot = self._counts.setdefault(zone, [0.0, area])
            tot[0] += count
        for c in r.crossings:
            self._fwd[c.line_id] = self._fwd.get(c.line_id, 0) + c.forward
            self._back[c.line_id] = self._back.get(c.line_id, 0) + c.backward

    def take(self) -> Summary:
        """The interval so far; starts a new one."""
        n = self.frames
        zones = tuple(ZoneSummary(z, s / n if n else 0.0, area) for z, (s, area) in self._counts.items())
        out = Summary(n, zones if n else (), tuple(Crossings(i, self._fwd[i], self._back.get(i, 0))
                                                   for i in self._fwd))
        self.frames, self._counts, self._fwd, self._back = 0, {}, {}, {}
        return out


def zones_of(regions: tuple[RegionEstimate, ...]) -> tuple[ZoneSummary, ...]:
    """Per-zone totals of one frame's region estimates (several regions of a zone add up)."""
    per_zone: dict[str, list[float]] = {}
    for e in regions:
        acc = per_zone.setdefault(e.zone, [0.0, 0.0])
        acc[0] += e.count
        acc[1] += e.area_m2
    return tuple(ZoneSummary(z, c, a) for z, (c, a) in per_zone.items())
