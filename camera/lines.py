"""People crossing counting lines, from centroid tracking of foreground blobs.

Blobs of the foreground mask (camera.counting.ForegroundModel) are matched frame to frame to
the nearest track within `max_step_px`; a track whose centroid goes from one side of a line
to the other (each side at least `margin_px` away, the segment between the two positions
meeting the line) is one crossing. Walking from points[0] to points[1] of the line (image
coordinates, y down), the right-hand side is `to_zone`: left -> right counts `forward`
(from_zone -> to_zone), right -> left `backward`. Pure: masks in, counts out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from camera.counting import Mask
from camera.geometry import Point
from eventguard.config import CountingLine


def blobs(foreground: Mask, min_area_px: int) -> list[Point]:
    """Centroids of the foreground's connected blobs of at least min_area_px pixels."""
    n, _, stats, centroids = cv2.connectedComponentsWithStats((foreground > 0).astype(np.uint8), connectivity=8)
    return [(float(centroids[i][0]), float(centroids[i][1])) for i in range(1, n)
            if stats[i, cv2.CC_STAT_AREA] >= min_area_px]


def side(line: tuple[Point, Point], p: Point) -> float:
    """Signed distance of p from the line (positive: right of points[0] -> points[1])."""
    (x1, y1), (x2, y2) = line
    dx, dy = x2 - x1, y2 - y1
    return (dx * (p[1] - y1) - dy * (p[0] - x1)) / max(1e-9, (dx * dx + dy * dy) ** 0.5)


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    def cross(o: Point, p: Point, q: Point) -> float:
        return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])
    return (cross(a, b, c) * cross(a, b, d) <= 0) and (cross(c, d, a) * cross(c, d, b) <= 0)


@dataclass
class _Track:
    at: Point
    sides: dict[str, int] = field(default_factory=dict)  # line id -> -1 left, +1 right (last firm side)
    firm_at: dict[str, Point] = field(default_factory=dict)  # where that side was last firm
    missing: int = 0


@dataclass(frozen=True, slots=True)
class Crossings:
    """Crossings of one line: forward (from_zone -> to_zone) and backward."""

    line_id: str
    forward: int = 0
    backward: int = 0


class LineCounter:
    """Tracks blobs across frames and counts crossings of every line of a camera."""

    def __init__(self, lines: Sequence[CountingLine], *, min_area_px: int = 60, max_step_px: float = 60.0,
                 margin_px: float = 3.0, max_missing: int = 3) -> None:
        self.lines = tuple(lines)
        self.min_area_px, self.max_step_px = min_area_px, max_step_px
        self.margin_px, self.max_missing = margin_px, max_missing
        self._tracks: list[_Track] = []

    def step(self, foreground: Mask) -> list[Crossings]:
        """Advance by one frame; the crossings completed in it, per line."""
        return self.step_points(blobs(foreground, self.min_area_px))

    def step_points(self, centroids: Sequence[Point]) -> list[Crossings]:
        """As step, given the blob centroids (greedy nearest matching, closest pairs first)."""
        pairs = sorted((float(np.hypot(t.at[0] - c[0], t.at[1] - c[1])), ti, ci)
                       for ti, t in enumerate(self._tracks) for ci, c in enumerate(centroids))
        used_t: set[int] = set()
        used_c: set[int] = set()
        fwd = dict.fromkeys((ln.id for ln in self.lines), 0)
        back = dict(fwd)
        for dist, ti, ci in pairs:
            if dist > self.max_step_px or ti in used_t or ci in used_c:
                continue
            used_t.add(ti)
            used_c.add(ci)
            t = self._tracks[ti]
            t.at, t.missing = centroids[ci], 0
            for ln in self.lines:
                s = side(ln.points, t.at)
                if abs(s) < self.margin_px:
                    continue
                now = 1 if s > 0 else -1
                was = t.sides.get(ln.id)
                if was is not None and was != now and _segments_meet(t.firm_at[ln.id], t.at, *ln.points):
                    if now > 0:
                        fwd[ln.id] += 1
                    else:
                        back[ln.id] += 1
                t.sides[ln.id], t.firm_at[ln.id] = now, t.at
        for t in (t for i, t in enumerate(self._tracks) if i not in used_t):
            t.missing += 1
        self._tracks = [t for t in self._tracks if t.missing <= self.max_missing]
        for ci, c in enumerate(centroids):
            if ci not in used_c:
                t = _Track(at=c)
                for ln in self.lines:
                    s = side(ln.points, c)
                    if abs(s) >= self.margin_px:
                        t.sides[ln.id], t.firm_at[ln.id] = (1 if s > 0 else -1), c
                self._tracks.append(t)
        return [Crossings(ln.id, fwd[ln.id], back[ln.id]) for ln in self.lines]

    @property
    def tracks(self) -> int:
        """Tracks alive now."""
        return len(self._tracks)
