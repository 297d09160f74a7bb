"""People in regions from foreground area, without weights to download.

A MOG2 background model marks what moves or is new in the scene (static background never
counts); each region's foreground pixels are weighted by the floor area behind them (the
homography's perspective weight, camera.geometry.pixel_area_map), summed to a weighted area
in m², and turned into a count by a linear regression (people = slope * area + intercept;
slope = 1 / person_area_m2 until `fit_area_regression` is fitted on hand-counted frames).
No I/O; the analyzer runs these calls off the event loop (camera/service.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from camera.geometry import Matrix, Point, fit_homography, ground_area_m2, pixel_area_map
from eventguard.config import Camera

Mask = npt.NDArray[np.uint8]
Frame = npt.NDArray[np.uint8]


class ForegroundModel:
    """MOG2 background subtraction with a warm-up: the first `warmup_frames` learn at
    OpenCV's own (fast) rate, then the model learns at `learning_rate` (slow), so a crowd that
    stands still for a while is not taken for background at once. Shadows are not foreground."""

    def __init__(self, *, history: int = 500, var_threshold: float = 16.0, warmup_frames: int = 25,
                 learning_rate: float = 0.0005) -> None:
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                       detectShadows=False)
        self._warmup = warmup_frames
        self._rate = learning_rate
        self._seen = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.last: Mask = np.zeros((0, 0), np.uint8)  # the latest mask (calibration reads it)

    def apply(self, frame: Frame) -> Mask:
        """The foreground mask of a frame (0 or 255), small specks removed."""
        rate = -1.0 if self._seen < self._warmup else self._rate
        self._seen += 1
        fg = self._mog.apply(frame, learningRate=rate)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._kernel)
        self.last = np.asarray(fg, dtype=np.uint8)
        return self.last

    @property
    def warm(self) -> bool:
        """Whether the warm-up is over (before that the counts are not meaningful)."""
        return self._seen > self._warmup


def region_mask(polygon: Sequence[Point], width: int, height: int) -> Mask:
    """A 0/1 mask of an image polygon."""
    m = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(polygon, dtype=np.float64)).astype(np.int32)], 1)
    return m


def weighted_area(foreground: Mask, region: Mask, pixel_m2: npt.NDArray[np.float32]) -> float:
    """Venue floor (m²) behind the foreground pixels of a region."""
    sel = (foreground > 0) & (region > 0)
    return float(pixel_m2[sel].sum(dtype=np.float64))


@dataclass(frozen=True, slots=True)
class AreaRegression:
    """people = slope * weighted area (m²) + intercept, never below zero."""

    slope: float
    intercept: float = 0.0

    def count(self, area_m2: float) -> float:
        """People for a weighted foreground area (0 for an empty region)."""
        if area_m2 <= 0:
            return 0.0
        return max(0.0, self.slope * area_m2 + self.intercept)


def fit_area_regression(areas_m2: Sequence[float], counts: Sequence[float]) -> AreaRegression:
    """Least squares on hand-counted frames (two or more with different areas); with one
    frame, or all areas equal, a line through the origin."""
    a = np.asarray(areas_m2, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if len(a) != len(c) or not len(a):
        raise ValueError("need as many counts as areas, at least one")
    if len(a) < 2 or np.ptp(a) == 0:
        return AreaRegression(slope=float(c.sum() / a.sum()) if a.sum() > 0 else 0.0)
    slope, intercept = np.polyfit(a, c, 1)
    return AreaRegression(slope=float(slope), intercept=float(intercept))


@dataclass(frozen=True, slots=True)
class RegionEstimate:
    """People seen in one region of one frame."""

    zone: str
    count: float
    area_m2: float  # venue floor the region covers

    @property
    def density(self) -> float:
        """Persons per m²."""
        return self.count / self.area_m2 if self.area_m2 > 0 else 0.0


class RegionCounter:
    """A camera's regions, ready to count: masks, perspective weights and floor areas."""

    def __init__(self, cam: Camera, regression: AreaRegression | None = None) -> None:
        w, h = cam.image_size
        self.homography: Matrix = fit_homography(cam.image_points, cam.venue_points)
        self.pixel_m2 = pixel_area_map(self.homography, w, h)
        self.regression = regression or AreaRegression(slope=1.0 / cam.person_area_m2)
        self.regions = [(r.zone, region_mask(r.polygon, w, h), ground_area_m2(self.homography, r.polygon))
                        for r in cam.regions]

    def weighted_areas(self, foreground: Mask) -> list[float]:
        """Each region's weighted foreground area (m²): what `fit_area_regression` is fitted on."""
        return [weighted_area(foreground, mask, self.pixel_m2) for _, mask, _ in self.regions]

    def count(self, foreground: Mask) -> list[RegionEstimate]:
        """People in each region of a frame's foreground mask."""
        return [RegionEstimate(zone, self.regression.count(a), area)
                for (zone, _, area), a in zip(self.regions, self.weighted_areas(foreground), strict=True)]
