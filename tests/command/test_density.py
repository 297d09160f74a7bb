"""Tests of command/density.py: LOS tables, zone states, the grid, rate windows, queues."""

from __future__ import annotations

import time

import numpy as np
import pytest

from command.density import (
    LOS,
    STANDING_LOS,
    WALKWAY_LOS,
    GridMapper,
    LosTable,
    RateWindow,
    density_grid,
    level_of_service,
    queue_estimate,
    zone_state,
)
from eventguard.config import EventInfo, Gate, Venue, Zone


@pytest.mark.parametrize(("density", "expected"), [
    (0.0, LOS.A), (0.309, LOS.A), (0.31, LOS.B), (0.429, LOS.B), (0.43, LOS.C),
    (0.719, LOS.C), (0.72, LOS.D), (1.079, LOS.D), (1.08, LOS.E), (2.169, LOS.E),
    (2.17, LOS.F), (9.0, LOS.F), (-1.0, LOS.A),
])
def test_walkway_los_boundaries(density: float, expected: LOS) -> None:
    assert level_of_service(density) is expected


@pytest.mark.parametrize(("density", "expected"), [
    (0.5, LOS.A), (0.83, LOS.B), (1.2, LOS.C), (2.0, LOS.D), (3.57, LOS.E), (5.0, LOS.E),
    (5.26, LOS.F),
])
def test_standing_los(density: float, expected: LOS) -> None:
    assert level_of_service(density, STANDING_LOS) is expected


@pytest.mark.parametrize("bounds", [(1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 2.0, 3.0, 4.0),
                                    (0.0, 1.0, 2.0, 3.0, 4.0)])
def test_los_table_rejects_bad_bounds(bounds: tuple[float, float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        LosTable("bad", bounds)


def test_los_nan_rejected() -> None:
    with pytest.raises(ValueError):
        level_of_service(float("nan"), WALKWAY_LOS)


ZONE = Zone(id="z", name="Z", area_m2=100.0, capacity=200)


@pytest.mark.parametrize(("occupancy", "density", "fill", "los"), [
    (0, 0.0, 0.0, LOS.A), (50, 0.5, 0.25, LOS.C), (250, 2.5, 1.25, LOS.F),
    (-7, 0.0, 0.0, LOS.A),
])
def test_zone_state(occupancy: int, density: float, fill: float, los: LOS) -> None:
    st = zone_state(ZONE, occupancy, inflow_per_min=3.0, outflow_per_min=1.0)
    assert st.occupancy == occupancy  # raw count kept, even when negative
    assert st.density == pytest.approx(density)
    assert st.fill == pytest.approx(fill)
    assert st.los is los
    assert (st.inflow_per_min, st.outflow_per_min) == (3.0, 1.0)


def _venue(zones: tuple[Zone, ...]) -> Venue:
    return Venue(event=EventInfo(id="e", name="E"), zones=zones,
                 gates=(Gate(id="g", name="G", zone=zones[0].id),))


def _rect(zid: str, x0: float, y0: float, x1: float, y1: float) -> Zone:
    area = (x1 - x0) * (y1 - y0)
    return Zone(id=zid, name=zid, area_m2=area, capacity=int(area * 4),
                polygon=((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


TWO = _venue((_rect("west", 0, 0, 10, 10), _rect("east", 20, 0, 30, 6)))


def test_grid_two_rectangles() -> None:
    mapper = GridMapper(TWO, cell_m=2.0)
    assert (mapper.x0, mapper.y0, mapper.cols, mapper.rows) == (0.0, 0.0, 15, 5)
    grid = mapper.densities({"west": 50, "east": 120})  # 0.5 and 2.0 p/m²
    assert grid.densities.shape == (75,)
    table = [
        (1.0, 1.0, 0.5), (9.0, 9.0, 0.5), (5.0, 5.0, 0.5),  # inside west
        (21.0, 1.0, 2.0), (29.0, 5.0, 2.0),  # inside east
        (15.0, 5.0, 0.0), (11.0, 1.0, 0.0),  # the gap between them
        (25.0, 9.0, 0.0),  # above east, inside the bounding box
        (-5.0, 0.0, 0.0), (100.0, 100.0, 0.0),  # off the grid
    ]
    for x, y, expected in table:
        assert grid.at(x, y) == pytest.approx(expected), (x, y)
    assert mapper.zone_at(1.0, 1.0) == "west"
    assert mapper.zone_at(25.0, 3.0) == "east"
    assert mapper.zone_at(15.0, 3.0) is None
    # row-major: row 0 is y in [0, 2), column 10 is x in [20, 22)
    assert grid.densities[0 * 15 + 10] == pytest.approx(2.0)
    assert int(np.count_nonzero(grid.densities == 0.5)) == 25
    assert int(np.count_nonzero(grid.densities == 2.0)) == 15


def test_grid_triangle_and_missing_zones() -> None:
    tri = Zone(id="t", name="t", area_m2=50.0, capacity=100,
               polygon=((0.0, 0.0), (10.0, 0.0), (0.0, 10.0)))
    venue = _venue((tri, Zone(id="nopoly", name="n", area_m2=10.0, capacity=5)))
    grid = density_grid(venue, {"t": 100, "nopoly": 5}, cell_m=1.0)
    assert grid.at(1.0, 1.0) == pytest.approx(2.0)
    assert grid.at(9.0, 9.0) == 0.0  # beyond the hypotenuse
    assert grid.at(8.5, 0.5) == pytest.approx(2.0)
    assert grid.at(0.5, 9.7) == 0.0  # centre (0.5, 9.5) lies outside: x + y > 10


def test_grid_overlap_first_zone_wins_and_negative_counts() -> None:
    venue = _venue((_rect("a", 0, 0, 10, 10), _rect("b", 4, 4, 14, 14)))
    grid = GridMapper(venue, 2.0).densities({"a": -5, "b": 100})
    assert grid.at(5.0, 5.0) == 0.0  # zone a (clamped to 0 people) wins the overlap
    assert grid.at(12.0, 12.0) == pytest.approx(1.0)


def test_grid_without_polygons() -> None:
    grid = density_grid(_venue((ZONE,)), {"z": 10})
    assert (grid.cols, grid.rows, len(grid.densities)) == (0, 0, 0)
    assert grid.to_wire()["deci_density"] == ()


def test_grid_wire_quantised() -> None:
    grid = GridMapper(TWO, 2.0).densities({"west": 46, "east": 60 * 30})
    wire = grid.to_wire()
    assert (wire["cols"], wire["rows"], wire["cell_m"]) == (15, 5, 2.0)
    cells = wire["deci_density"]
    assert len(cells) == 75 and all(isinstance(c, int) for c in cells)
    assert cells[0] == 5  # 0.46 p/m² -> 5 tenths
    assert cells[10] == 255  # 30 p/m² saturates
    assert cells[6] == 0  # x in [12, 14): the gap


def test_grid_mapper_is_fast_for_a_stadium() -> None:
    zones = []
    for i in range(10):  # 10 x 10 zones of 36 m x 26 m over 400 m x 300 m
        for j in range(10):
            x, y = i * 40.0, j * 30.0
            zones.append(Zone(id=f"z{i}{j}", name="z", area_m2=900.0, capacity=3000,
                              polygon=((x, y), (x + 36, y), (x + 36, y + 26), (x + 18, y + 29),
                                       (x, y + 26))))
    venue = _venue(tuple(zones))
    t0 = time.perf_counter()
    mapper = GridMapper(venue, 2.0)
    built = time.perf_counter() - t0
    occupancy = {z.id: 900 for z in zones}
    t0 = time.perf_counter()
    for _ in range(20):
        grid = mapper.densities(occupancy)
    per_update = (time.perf_counter() - t0) / 20
    assert (grid.cols, grid.rows) == (198, 150)
    assert grid.at(10.0, 10.0) == pytest.approx(1.0)
    assert grid.at(38.0, 10.0) == 0.0  # the aisle between zones
    assert built < 1.0
    assert per_update < 0.01


def test_rate_window_counts_and_slides() -> None:
    rw = RateWindow(window_s=60)
    for t in range(0, 60):  # one event per second for a minute
        rw.add(1000.0 + t + 0.5)
    assert rw.count(1059.9) == 60
    assert rw.rate_per_min(1059.9) == pytest.approx(60.0)
    assert rw.count(1089.0) == 30  # the first 30 seconds slid out
    assert rw.count(1200.0) == 0
    rw.add(1200.2, n=5)
    assert rw.rate_per_min(1200.9) == pytest.approx(5.0)


def test_rate_window_late_and_stale_events() -> None:
    rw = RateWindow(window_s=10)
    rw.add(100.0)
    rw.add(95.0)  # late but inside the window: counted
    rw.add(80.0)  # older than the window: dropped
    assert rw.count(100.0) == 2
    assert rw.rate_per_min(100.0) == pytest.approx(12.0)


def test_rate_window_memory_is_bounded() -> None:
    rw = RateWindow(window_s=30)
    for i in range(10_000):
        rw.add(i * 0.01)
    assert len(rw._counts) == 30
    assert rw.count(99.99) == 3000


@pytest.mark.parametrize(("arrive", "serve", "lanes", "queue", "dt", "length", "wait", "util"), [
    (60.0, 10.0, 4, 0.0, 60.0, 20.0, 30.0, 1.5),  # 60 in, 40 out per minute
    (20.0, 10.0, 4, 10.0, 60.0, 0.0, 0.0, 0.5),  # drains to empty, never negative
    (30.0, 10.0, 3, 15.0, 30.0, 15.0, 30.0, 1.0),  # balanced: queue holds, W = L / 30 per min
    (10.0, 10.0, 0, 5.0, 60.0, 15.0, None, None),  # no lane open: grows, wait unbounded
])
def test_queue_estimate(arrive: float, serve: float, lanes: int, queue: float, dt: float,
                        length: float, wait: float | None, util: float | None) -> None:
    q = queue_estimate(arrive, serve, lanes, queue, dt)
    assert q.length == pytest.approx(length)
    assert q.wait_s == (None if wait is None else pytest.approx(wait))
    assert q.utilisation == (None if util is None else pytest.approx(util))
