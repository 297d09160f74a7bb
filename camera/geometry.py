"""Image <-> venue geometry of one camera: a ground-plane homography from 4+ point pairs.

Pure: numbers in, numbers out (cv2.findHomography fits the matrix; no I/O, no state).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from camera.errors import CalibrationError

Point = tuple[float, float]
Matrix = npt.NDArray[np.float64]


def fit_homography(image_points: Sequence[Point], venue_points: Sequence[Point]) -> Matrix:
    """The 3x3 matrix taking image pixels to venue metres (least squares over 4+ pairs).

    CalibrationError when the points are too few or degenerate (three on a line)."""
    if len(image_points) != len(venue_points) or len(image_points) < 4:
        raise CalibrationError(f"need 4 or more image/venue point pairs, got {len(image_points)}/{len(venue_points)}")
    src = np.asarray(image_points, dtype=np.float64).reshape(-1, 1, 2)
    dst = np.asarray(venue_points, dtype=np.float64).reshape(-1, 1, 2)
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None or not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
        raise CalibrationError("the points do not fix a homography (are three of them on one line?)")
    return np.asarray(h / h[2, 2], dtype=np.float64)


def project(h: Matrix, points: Sequence[Point]) -> list[Point]:
    """Image points -> venue points through h."""
    if not points:
        return []
    pts = cv2.perspectiveTransform(np.asarray(points, dtype=np.float64).reshape(-1, 1, 2), h)
    return [(float(x), float(y)) for x, y in pts.reshape(-1, 2)]


def polygon_area(points: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace), in the units of its points squared."""
    xs = np.asarray([p[0] for p in points], dtype=np.float64)
    ys = np.asarray([p[1] for p in points], dtype=np.float64)
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2.0)


def ground_area_m2(h: Matrix, image_polygon: Sequence[Point]) -> float:
    """Venue area (m²) seen by an image polygon (its corners projected to the plan)."""
    return polygon_area(project(h, image_polygon))


def pixel_area_map(h: Matrix, width: int, height: int) -> npt.NDArray[np.float32]:
    """m² of venue floor behind each pixel: |det J| of the homography at the pixel centre,
    which for a projective map is |det H| / w³ (w the third homogeneous coordinate). This is
    the perspective weight: a far pixel covers more floor than a near one."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5, np.arange(height, dtype=np.float64) + 0.5)
    w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    if np.any(w <= 0):
        raise CalibrationError("part of the image maps beyond the horizon: pick points on the floor "
                               "and regions below the horizon")
    return np.asarray(abs(np.linalg.det(h)) / w ** 3, dtype=np.float32)
