"""A camera's density on the venue plan: a coarse grid of cells in venue metres (the live map's
heatmap), and a small JPEG of its latest frame (the map shows it on click).

The grid covers the bounding box of the camera's regions projected to the plan through its
homography, split into `cols` x `rows` cells (8 x 6 by default, aligned with the venue's
axes). Each image pixel inside a region belongs to the cell its centre projects into; a cell's
floor is the floor (m²) behind its region pixels. Each frame, the people the regions counted
are spread over the cells in proportion to the weighted foreground area each cell holds, so
the cells add up to the regions' count; a cell's density is its mean people over the interval
divided by its floor. Cells with less than `min_floor` of their area seen are left out (None).
Blocking (numpy / OpenCV): the analysis thread calls it, never the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camera.counting import Mask, RegionCounter, RegionEstimate
from camera.geometry import project
from eventguard.config import Camera
from eventguard.wire import MAX_CAMERA_FRAME_BYTES, DensityCells
from vision.image import Frame


@dataclass(frozen=True, slots=True)
class GridShape:
    """Where the cells are on the plan (metres)."""

    x0: float
    y0: float
    cell_w: float
    cell_h: float
    cols: int
    rows: int


class HeatGrid:
    """Accumulates one camera's per-cell people over an interval."""

    def __init__(self, cam: Camera, regions: RegionCounter, *, cols: int = 8, rows: int = 6,
                 min_floor: float = 0.1) -> None:
        w, h = cam.image_size
        corners = [p for r in cam.regions for p in project(regions.homography, list(r.polygon))]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        x0, y0 = min(xs, default=0.0), min(ys, default=0.0)
        cw, ch = max(1e-3, (max(xs, default=1.0) - x0) / cols), max(1e-3, (max(ys, default=1.0) - y0) / rows)
        self.shape = GridShape(x0, y0, cw, ch, cols, rows)
        roi = np.zeros((h, w), dtype=bool)
        for _, mask, _ in regions.regions:
            roi |= mask > 0
        px, py = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
        pts = np.stack([px[roi], py[roi]], axis=1).reshape(-1, 1, 2)
        venue = cv2.perspectiveTransform(pts, regions.homography).reshape(-1, 2) if len(pts) else np.zeros((0, 2))
        c = np.clip(((venue[:, 0] - x0) / cw).astype(np.int64), 0, cols - 1)
        r = np.clip(((venue[:, 1] - y0) / ch).astype(np.int64), 0, rows - 1)
        self._roi = roi
        self._cell = (r * cols + c).astype(np.int64)  # cell of each ROI pixel (in roi's order)
        self._m2 = regions.pixel_m2[roi].astype(np.float64)
        self.floor = np.bincount(self._cell, weights=self._m2, minlength=cols * rows)
        self._seen = self.floor >= min_floor * cw * ch
        self._people = np.zeros(cols * rows)
        self.frames = 0

    def add(self, foreground: Mask, estimates: Sequence[RegionEstimate]) -> None:
        """Spread one frame's counted people over the cells by where the foreground is."""
        fg = (foreground > 0)[self._roi]
        area = np.bincount(self._cell[fg], weights=self._m2[fg], minlength=len(self.floor))
        total = float(area.sum())
        people = sum(e.count for e in estimates)
        if total > 0 and people > 0:
            self._people += area * (people / total)
        self.frames += 1

    def take(self) -> DensityCells | None:
        """The interval's cells (persons/m², None where the camera sees too little); starts anew."""
        if not self.frames:
            return None
        s = self.shape
        mean = self._people / self.frames
        dens = [round(min(50.0, float(p / f)), 3) if seen else None
                for p, f, seen in zip(mean, self.floor, self._seen, strict=True)]
        self._people[:] = 0
        self.frames = 0
        return DensityCells(x0=round(s.x0, 3), y0=round(s.y0, 3), cell_w=round(s.cell_w, 4),
                            cell_h=round(s.cell_h, 4), cols=s.cols, rows=s.rows, density=tuple(dens))


def thumbnail(frame: Frame, *, width: int = 320, cap: int = MAX_CAMERA_FRAME_BYTES) -> bytes:
    """A JPEG of the frame, at most `width` pixels wide and `cap` bytes (quality, then size, lowered)."""
    img = frame
    while True:
        h, w = img.shape[:2]
        if w > width:
            img = np.asarray(cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA),
                             dtype=np.uint8)
        for quality in (80, 65, 50, 35):
            ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) <= cap:
                return bytes(data.tobytes())
        width = max(16, img.shape[1] // 2)
        if img.shape[1] <= 16:
            raise ValueError("cannot fit the frame in the thumbnail cap")
