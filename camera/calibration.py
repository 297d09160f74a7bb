"""`camera calibrate`: a camera's count correction from hand-counted frames, and a check of its
image <-> venue points; the calibration file `camera run` reads.

A site hand-counts a few frames of the camera's own footage (CSV `file,count`: people inside
the camera's regions). The frames of the folder play in name order through the same MOG2
background model as `camera run` (the background is learned from the footage, so a counted
frame must come after the warm-up); each counted frame's perspective-weighted foreground area
(all regions together) is paired with its count and `fit_area_regression` fits
people = slope * area + intercept. The fit error (MAE, relative) is given in-sample, and with
three or more frames leave-one-out (each frame predicted by the fit on the others), beside
the error of the venue file's `person_area_m2` on the same frames.

The calibration file (TOML, beside the venue file: `<camera id>.calibration.toml`) records
the fit and the image/venue points it was fitted with; `camera run` refuses it when the venue
file's points have changed since (the weights behind every pixel depend on them). Parsing is
strict like the venue file: an unknown key names the nearest valid one.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camera.counting import AreaRegression, ForegroundModel, RegionCounter, fit_area_regression
from camera.errors import CalibrationError
from camera.geometry import Point, fit_homography, pixel_area_map, project
from eventguard.config import Camera, check_keys
from eventguard.errors import ConfigError
from vision.errors import ImageError
from vision.image import Frame, read_file

CALIBRATION_KEYS = ("camera_id", "slope", "intercept", "image_points", "venue_points", "frames", "mae",
                    "relative_error", "fitted_at")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
MAX_COUNT = 100_000


def calibration_path(venue_file: Path, camera_id: str) -> Path:
    """Where a camera's calibration lives unless told: beside the venue file."""
    return venue_file.parent / f"{camera_id}.calibration.toml"


# ---- image <-> venue points -------------------------------------------------------------------


def parse_point_pairs(items: Sequence[str]) -> tuple[tuple[Point, ...], tuple[Point, ...]]:
    """`u,v=x,y` pairs (image pixels = venue metres) -> image points, venue points."""
    image: list[Point] = []
    venue: list[Point] = []
    for item in items:
        try:
            left, right = item.split("=")
            u, v = (float(s) for s in left.split(","))
            x, y = (float(s) for s in right.split(","))
        except ValueError:
            raise CalibrationError(f"--points {item!r}: expected u,v=x,y (image pixels = venue metres), "
                                   "e.g. 120,400=3.5,10") from None
        if not all(math.isfinite(n) for n in (u, v, x, y)):
            raise CalibrationError(f"--points {item!r}: numbers must be finite")
        image.append((u, v))
        venue.append((x, y))
    return tuple(image), tuple(venue)


def _collinear(points: Sequence[Point], tol: float) -> tuple[int, int, int] | None:
    """Three points on one line (within tol of the longest side, in their own units)."""
    for i, j, k in itertools.combinations(range(len(points)), 3):
        (ax, ay), (bx, by), (cx, cy) = points[i], points[j], points[k]
        twice_area = abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
        side = max(math.dist(points[i], points[j]), math.dist(points[j], points[k]), math.dist(points[i], points[k]))
        if side == 0 or twice_area / side < tol * side:
            return i, j, k
    return None


def check_points(image: Sequence[Point], venue: Sequence[Point], size: tuple[int, int]) -> list[float]:
    """The reprojection error (metres) of each pair under the fitted homography; one-line
    CalibrationError when the set cannot fix a usable one (too few, repeated, three of four
    on a line, all on a line, the image above the horizon)."""
    if len(image) != len(venue) or len(image) < 4:
        raise CalibrationError(f"need 4 or more image/venue point pairs, got {len(image)}")
    for name, pts in (("image", image), ("venue", venue)):
        if len(set(pts)) != len(pts):
            raise CalibrationError(f"two {name} points are the same: each pair must be a different spot on the floor")
        if len(pts) == 4 and (tri := _collinear(pts, 0.02)) is not None:
            raise CalibrationError(f"{name} points #{tri[0] + 1}, #{tri[1] + 1}, #{tri[2] + 1} lie on one line: "
                                   "with four points, pick corners of a quadrilateral on the floor")
        if len(pts) > 4 and all(_collinear([pts[i], pts[j], pts[k]], 0.02)
                                for i, j, k in itertools.combinations(range(len(pts)), 3)):
            raise CalibrationError(f"all {name} points lie on one line: pick spots spread over the floor")
    h = fit_homography(image, venue)
    pixel_area_map(h, size[0], size[1])  # refuses points that put part of the image beyond the horizon
    return [math.dist(p, q) for p, q in zip(project(h, list(image)), venue, strict=True)]


# ---- hand counts and the fit --------------------------------------------------------------------


def read_counts(path: Path) -> list[tuple[str, float]]:
    """The hand counts: CSV rows `file,count` (a header row `file,count` is allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read counts file {path}: {err.strerror}") from err
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (expected CSV rows file,count)") from None
    rows: list[tuple[str, float]] = []
    for n, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if n == 1 and [c.strip().lower() for c in row] == ["file", "count"]:
            continue
        if len(row) != 2:
            raise ConfigError(f"{path}:{n}: expected two columns file,count, got {len(row)}")
        name, count = row[0].strip(), row[1].strip()
        try:
            value = float(count)
        except ValueError:
            raise ConfigError(f"{path}:{n}: count {count!r} is not a number") from None
        if not math.isfinite(value) or not 0 <= value <= MAX_COUNT:
            raise ConfigError(f"{path}:{n}: count {count!r} must be between 0 and {MAX_COUNT}")
        if not name or "/" in name or "\\" in name:
            raise ConfigError(f"{path}:{n}: {name!r} is not a file name in the frames folder")
        if any(r[0] == name for r in rows):
            raise ConfigError(f"{path}:{n}: {name} is counted twice")
        rows.append((name, value))
    if not rows:
        raise ConfigError(f"{path}: no counted frames (expected CSV rows file,count)")
    return rows


def weighted_areas(cam: Camera, folder: Path, names: Iterable[str], *,
                   homography_points: tuple[tuple[Point, ...], tuple[Point, ...]] | None = None,
                   foreground: ForegroundModel | None = None,
                   read: Callable[[Path], Frame] = read_file) -> dict[str, float]:
    """Play the folder's frames in name order through the background model and return the
    weighted foreground area (m², all regions) of each named frame. Blocking (OpenCV)."""
    import cv2

    if not folder.is_dir():
        raise ConfigError(f"frames folder {folder} does not exist")
    if not cam.regions:
        raise ConfigError(f"camera {cam.id} has no [[cameras.regions]]: nothing to count in")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    wanted = list(names)
    index = {p.name: i for i, p in enumerate(files)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise ConfigError(f"{missing[0]} (in the counts) is not an image in {folder}"
                          + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""))
    if homography_points is not None:
        cam = Camera(id=cam.id, name=cam.name, image_size=cam.image_size, image_points=homography_points[0],
                     venue_points=homography_points[1], regions=cam.regions, lines=cam.lines,
                     position=cam.position, person_area_m2=cam.person_area_m2)
    model = foreground or ForegroundModel()
    counter = RegionCounter(cam)
    w, h = cam.image_size
    last = max(index[n] for n in wanted)
    out: dict[str, float] = {}
    for i, p in enumerate(files[:last + 1]):
        try:
            frame = read(p)
        except ImageError as err:
            raise ConfigError(f"{p}: {err}") from None
        if frame.shape[1] != w or frame.shape[0] != h:
            frame = np.asarray(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        fg = model.apply(frame)
        if p.name in wanted:
            if not model.warm:
                raise ConfigError(f"{p.name} is frame {i + 1} of {folder}, within the background model's warm-up: "
                                  "put the camera's footage before it (25 frames or more) in the folder")
            out[p.name] = sum(counter.weighted_areas(fg))
    return out


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted count correction and its errors on the counted frames."""

    regression: AreaRegression
    frames: int
    mae: float  # people, in-sample
    relative_error: float  # sum |error| / sum count, in-sample
    mae_before: float  # with the venue file's person_area_m2
    relative_before: float
    loo_mae: float | None = None  # leave-one-out (3 frames or more)
    loo_relative: float | None = None


def _errors(predicted: Sequence[float], counts: Sequence[float]) -> tuple[float, float]:
    err = [abs(p - c) for p, c in zip(predicted, counts, strict=True)]
    return sum(err) / len(err), (sum(err) / sum(counts) if sum(counts) > 0 else 0.0)


def fit(areas: Sequence[float], counts: Sequence[float], before: AreaRegression) -> Fit:
    """Fit the correction on (area, count) pairs; errors in-sample, before, and leave-one-out."""
    if not any(a > 0 for a in areas):
        raise CalibrationError("no foreground in the counted frames' regions: are the regions where the people are, "
                               "and does the footage before them show the empty scene?")
    reg = fit_area_regression(areas, counts)
    if not 0 < reg.slope <= 1000:
        raise CalibrationError(f"the counts do not grow with the foreground area (slope {reg.slope:.3g}): count "
                               "frames with clearly different crowds, and check the regions cover where they stand")
    mae, rel = _errors([reg.count(a) for a in areas], counts)
    mae_b, rel_b = _errors([before.count(a) for a in areas], counts)
    loo_mae = loo_rel = None
    if len(areas) >= 3:
        loo = [fit_area_regression([a for j, a in enumerate(areas) if j != i],
                                   [c for j, c in enumerate(counts) if j != i]).count(areas[i])
               for i in range(len(areas))]
        loo_mae, loo_rel = _errors(loo, counts)
    return Fit(reg, len(areas), mae, rel, mae_b, rel_b, loo_mae, loo_rel)


# ---- the calibration file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """What `camera calibrate` writes and `camera run` reads."""

    camera_id: str
    regression: AreaRegression
    image_points: tuple[Point, ...]
    venue_points: tuple[Point, ...]
    frames: int
    mae: float
    relative_error: float
    fitted_at: str


def _pts(ps: Sequence[Point]) -> str:
    return "[" + ", ".join(f"[{x!r}, {y!r}]" for x, y in ps) + "]"


def dump(c: Calibration) -> str:
    """The calibration as TOML."""
    return (f"# count correction of camera {c.camera_id}: people = slope * weighted foreground m² + intercept\n"
            f"# written by eventguard camera calibrate; fitted with these image/venue points\n"
            f"camera_id = {json.dumps(c.camera_id)}\n"
            f"slope = {c.regression.slope!r}\nintercept = {c.regression.intercept!r}\n"
            f"image_points = {_pts(c.image_points)}\nvenue_points = {_pts(c.venue_points)}\n"
            f"frames = {c.frames}\nmae = {c.mae!r}\nrelative_error = {c.relative_error!r}\n"
            f"fitted_at = {json.dumps(c.fitted_at)}\n")


def _number(raw: dict[str, Any], key: str, where: str) -> float:
    if key not in raw:
        raise ConfigError(f"{where}: missing key '{key}'")
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def _point_list(raw: dict[str, Any], key: str, where: str) -> tuple[Point, ...]:
    v = raw.get(key)
    if (not isinstance(v, list) or len(v) < 4
            or not all(isinstance(p, list) and len(p) == 2
                       and all(isinstance(n, int | float) and not isinstance(n, bool) for n in p) for p in v)):
        raise ConfigError(f"{where}: {key} must be a list of 4 or more [x, y] points, got {v!r}")
    return tuple((float(p[0]), float(p[1])) for p in v)


def parse(raw: dict[str, Any], where: str) -> Calibration:
    """A calibration from its TOML table (strict: unknown keys, types, ranges)."""
    check_keys(raw, CALIBRATION_KEYS, where)
    cid = raw.get("camera_id")
    if not isinstance(cid, str) or not cid:
        raise ConfigError(f"{where}: camera_id must be a camera id, got {cid!r}")
    slope, intercept = _number(raw, "slope", where), _number(raw, "intercept", where)
    if not 0 < slope <= 1000:
        raise ConfigError(f"{where}: slope must be in (0, 1000] people per m², got {slope}")
    if abs(intercept) > MAX_COUNT:
        raise ConfigError(f"{where}: intercept {intercept} is out of range")
    frames = raw.get("frames")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError(f"{where}: frames must be a whole number >= 1, got {frames!r}")
    mae, rel = _number(raw, "mae", where), _number(raw, "relative_error", where)
    if mae < 0 or rel < 0:
        raise ConfigError(f"{where}: mae and relative_error cannot be negative")
    at = raw.get("fitted_at")
    if not isinstance(at, str):
        raise ConfigError(f"{where}: fitted_at must be a string, got {at!r}")
    img, ven = _point_list(raw, "image_points", where), _point_list(raw, "venue_points", where)
    if len(img) != len(ven):
        raise ConfigError(f"{where}: {len(img)} image_points but {len(ven)} venue_points")
    return Calibration(cid, AreaRegression(slope, intercept), img, ven, frames, mae, rel, at)


def load(path: Path, cam: Camera) -> Calibration:
    """Read a camera's calibration file and check it belongs to this camera and its points."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read calibration file {path}: {err.strerror}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err
    c = parse(raw, str(path))
    if c.camera_id != cam.id:
        raise ConfigError(f"{path}: a calibration of camera {c.camera_id!r}, not {cam.id!r}")
    if not (np.allclose(c.image_points, cam.image_points) and np.allclose(c.venue_points, cam.venue_points)
            if len(c.image_points) == len(cam.image_points) else False):
        raise ConfigError(f"{path}: fitted with other image/venue points than camera {cam.id} has in the venue file; "
                          f"run eventguard camera calibrate --camera-id {cam.id} again")
    return c
