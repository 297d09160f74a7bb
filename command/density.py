"""Crowd density: Fruin level of service, zone states, the live-map grid, rates and queues.

Pure and synchronous: no I/O, time is passed in as `now` (unix seconds).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from eventguard.codes import LOS
from eventguard.config import Point, Venue, Zone

_LEVELS: tuple[LOS, ...] = tuple(LOS)


@dataclass(frozen=True, slots=True)
class LosTable:
    """Upper density bounds (p/m², exclusive) of levels A..E; at or above the last is F."""

    name: str
    upper: tuple[float, float, float, float, float]

    def __post_init__(self) -> None:
        if len(self.upper) != 5 or any(not (b > 0 and math.isfinite(b)) for b in self.upper):
            raise ValueError(f"LOS table {self.name}: need 5 positive bounds, got {self.upper}")
        if any(a >= b for a, b in zip(self.upper, self.upper[1:], strict=False)):
            raise ValueError(f"LOS table {self.name}: bounds must increase, got {self.upper}")


# Fruin, J.J. "Pedestrian Planning and Design" (1971; rev. 1987), also the TCQSM (TCRP
# Report 165) pedestrian exhibits. The tables give area per person; density is its inverse.
# Walkways: A >= 3.25 m²/p (35 ft²), B >= 2.32 (25), C >= 1.39 (15), D >= 0.93 (10),
# E >= 0.46 (5), F below.
WALKWAY_LOS = LosTable("walkway", (0.31, 0.43, 0.72, 1.08, 2.17))
# Queuing / standing areas: A >= 1.21 m²/p (13 ft²), B >= 0.93 (10), C >= 0.65 (7),
# D >= 0.28 (3), E >= 0.19 (2), F below.
STANDING_LOS = LosTable("standing", (0.83, 1.08, 1.54, 3.57, 5.26))


def level_of_service(density: float, table: LosTable = WALKWAY_LOS) -> LOS:
    """The level of service of a density in persons per m² (each bound belongs to the worse level)."""
    if math.isnan(density):
        raise ValueError("density is NaN")
    return _LEVELS[bisect.bisect_right(table.upper, density)]


# ---- zone state ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneState:
    """A zone's crowd at one moment.

    `occupancy` is the raw counter (it can drift below zero when exits are counted for people
    whose entry was not, and operators should see that); `density`, `fill` and `los` are
    computed from the count clamped at zero.
    """

    zone_id: str
    occupancy: int
    density: float  # persons per m²
    los: LOS
    inflow_per_min: float
    outflow_per_min: float
    fill: float  # occupancy / capacity, 1.0 = at capacity


def zone_state(zone: Zone, occupancy: int, inflow_per_min: float = 0.0,
               outflow_per_min: float = 0.0, table: LosTable = WALKWAY_LOS) -> ZoneState:
    """The state of `zone` holding `occupancy` people."""
    people = max(0, occupancy)
    density = people / zone.area_m2
    return ZoneState(zone_id=zone.id, occupancy=occupancy, density=density,
                     los=level_of_service(density, table),
                     inflow_per_min=inflow_per_min, outflow_per_min=outflow_per_min,
                     fill=people / zone.capacity)


# ---- live-map grid ------------------------------------------------------------------------

DECI_MAX = 255  # wire cells saturate at 25.5 p/m², far above any survivable density


class GridWire(TypedDict):
    """The fields of `eventguard.wire.GridUpdate` except `at`."""

    x0: float
    y0: float
    cell_m: float
    cols: int
    rows: int
    deci_density: tuple[int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """Densities (p/m²) on a square grid, row-major: cell (col, row) covers
    x in [x0 + col*cell_m, x0 + (col+1)*cell_m), y likewise from y0 (row 0 is the lowest y)."""

    x0: float
    y0: float
    cell_m: float
    cols: int
    rows: int
    densities: npt.NDArray[np.float64]  # shape (rows*cols,)

    def at(self, x: float, y: float) -> float:
        """Density of the cell containing point (x, y); 0 outside the grid."""
        col = math.floor((x - self.x0) / self.cell_m)
        row = math.floor((y - self.y0) / self.cell_m)
        if not (0 <= col < self.cols and 0 <= row < self.rows):
            return 0.0
        return float(self.densities[row * self.cols + col])

    def to_wire(self) -> GridWire:
        """Wire form: densities as whole tenths of p/m² (rounded, clamped to 0..255), a flat
        row-major tuple of ints; the fields match `GridUpdate` (add `at`)."""
        deci = np.clip(np.rint(self.densities * 10.0), 0, DECI_MAX).astype(np.int64)
        return GridWire(x0=self.x0, y0=self.y0, cell_m=self.cell_m, cols=self.cols,
                        rows=self.rows, deci_density=tuple(deci.tolist()))


def _inside(xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64],
            polygon: tuple[Point, ...]) -> npt.NDArray[np.bool_]:
    """Ray casting (even-odd rule), vectorised over points."""
    inside = np.zeros(xs.shape, dtype=bool)
    n = len(polygon)
    for i in range(n):
        xa, ya = polygon[i]
        xb, yb = polygon[(i + 1) % n]
        if ya == yb:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (ya > ys) != (yb > ys)
        x_cross = xa + (ys - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xs < x_cross)
    return inside


class GridMapper:
    """Maps grid cells to zones once per venue; `densities()` is then one numpy take.

    The grid spans the bounding box of all zone polygons; zones without a polygon are not
    drawn. A cell belongs to the first zone (in venue order) whose polygon contains its centre.
    """

    def __init__(self, venue: Venue, cell_m: float = 2.0) -> None:
        if not (cell_m > 0 and math.isfinite(cell_m)):
            raise ValueError(f"cell_m must be > 0, got {cell_m}")
        self.cell_m = cell_m
        self.zones: tuple[Zone, ...] = venue.zones
        self._areas = np.array([z.area_m2 for z in venue.zones], dtype=np.float64)
        points = [p for z in venue.zones for p in z.polygon]
        if not points:
            self.x0 = self.y0 = 0.0
            self.cols = self.rows = 0
            self.cell_zone: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
            return
        self.x0 = min(p[0] for p in points)
        self.y0 = min(p[1] for p in points)
        self.cols = max(1, math.ceil((max(p[0] for p in points) - self.x0) / cell_m))
        self.rows = max(1, math.ceil((max(p[1] for p in points) - self.y0) / cell_m))
        cx = self.x0 + (np.arange(self.cols) + 0.5) * cell_m
        cy = self.y0 + (np.arange(self.rows) + 0.5) * cell_m
        # -1 = outside every zone; densities() appends a 0 so index -1 reads it.
        cell_zone = np.full((self.rows, self.cols), -1, dtype=np.intp)
        for index, zone in enumerate(venue.zones):
            if not zone.polygon:
                continue
            px = [p[0] for p in zone.polygon]
            py = [p[1] for p in zone.polygon]
            c0, c1 = np.searchsorted(cx, min(px)), np.searchsorted(cx, max(px), side="right")
            r0, r1 = np.searchsorted(cy, min(py)), np.searchsorted(cy, max(py), side="right")
            if c0 >= c1 or r0 >= r1:
                continue
            gx, gy = np.meshgrid(cx[c0:c1], cy[r0:r1])
            block = cell_zone[r0:r1, c0:c1]  # a view
            block[_inside(gx, gy, zone.polygon) & (block < 0)] = index
        self.cell_zone = cell_zone.ravel()

    def zone_at(self, x: float, y: float) -> str | None:
        """Id of the zone whose cell contains (x, y), or None."""
        col = math.floor((x - self.x0) / self.cell_m)
        row = math.floor((y - self.y0) / self.cell_m)
        if not (0 <= col < self.cols and 0 <= row < self.rows):
            return None
        index = int(self.cell_zone[row * self.cols + col])
        return None if index < 0 else self.zones[index].id

    def densities(self, occupancy: Mapping[str, int]) -> Grid:
        """The grid for these zone counts (missing zones count 0, negatives clamp to 0)."""
        people = np.array([max(0, occupancy.get(z.id, 0)) for z in self.zones], dtype=np.float64)
        per_zone = np.append(people / self._areas, 0.0)
        return Grid(x0=self.x0, y0=self.y0, cell_m=self.cell_m, cols=self.cols, rows=self.rows,
                    densities=per_zone.take(self.cell_zone))


def density_grid(venue: Venue, occupancy: Mapping[str, int], cell_m: float = 2.0) -> Grid:
    """One-off grid; for repeated updates keep a `GridMapper` and call `.densities()`."""
    return GridMapper(venue, cell_m).densities(occupancy)


# ---- rates --------------------------------------------------------------------------------


class RateWindow:
    """Events counted in one-second buckets over the last `window_s` seconds.

    Memory is `window_s` buckets whatever the event rate. Events older than the window
    (relative to the newest second seen) are dropped. Until `window_s` seconds of history
    exist the rate reads low: it always divides by the full window.
    """

    __slots__ = ("window_s", "_counts", "_stamps", "_newest")

    def __init__(self, window_s: int = 60) -> None:
        if window_s < 1:
            raise ValueError(f"window_s must be >= 1, got {window_s}")
        self.window_s = window_s
        self._counts = [0] * window_s
        self._stamps = [-1] * window_s  # the second each bucket currently counts
        self._newest = -1

    def add(self, now: float, n: int = 1) -> None:
        """Count `n` events at time `now`."""
        sec = math.floor(now)
        if sec <= self._newest - self.window_s:
            return
        self._newest = max(self._newest, sec)
        slot = sec % self.window_s
        if self._stamps[slot] != sec:
            self._stamps[slot] = sec
            self._counts[slot] = 0
        self._counts[slot] += n

    def count(self, now: float) -> int:
        """Events in the window ending at `now` (the seconds now-window_s+1 .. now)."""
        sec = math.floor(now)
        low = sec - self.window_s
        return sum(c for c, s in zip(self._counts, self._stamps, strict=True) if low < s <= sec)

    def rate_per_min(self, now: float) -> float:
        """Events per minute over the window ending at `now`."""
        return self.count(now) * 60.0 / self.window_s


# ---- queues -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEstimate:
    """A gate's queue after one step."""

    length: float  # persons waiting
    wait_s: float | None  # expected wait for a newcomer; None when no lane is open
    utilisation: float | None  # arrivals / service capacity; None when no lane is open


def queue_estimate(arrival_rate_per_min: float, service_rate_per_min: float, lanes_open: int,
                   current_queue: float, dt: float) -> QueueEstimate:
    """Step a fluid queue model by `dt` seconds.

    `service_rate_per_min` is per lane. The queue grows by (arrivals - capacity) * dt and never
    drops below zero; the wait follows Little's law, W = L / throughput, with the lanes working
    at full capacity while a queue stands.
    """
    capacity = max(0.0, service_rate_per_min) * max(0, lanes_open)
    arrivals = max(0.0, arrival_rate_per_min)
    length = max(0.0, current_queue + (arrivals - capacity) * max(0.0, dt) / 60.0)
    if capacity <= 0:
        return QueueEstimate(length=length, wait_s=None, utilisation=None)
    return QueueEstimate(length=length, wait_s=length / capacity * 60.0,
                         utilisation=arrivals / capacity)
