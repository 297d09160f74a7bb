"""The crowd model passes the RiMEA checks (see sim/checks.py for the pass ranges)."""

import dataclasses
import json

import numpy as np
import pytest

from sim import checks
from sim.micro import box_walls, neighbour_pairs


def _ok(r: checks.CheckResult) -> None:
    json.dumps(dataclasses.asdict(r))
    assert r.passed, r


def test_rimea1() -> None:
    r = checks.rimea1()
    _ok(r)
    assert r.value == pytest.approx(40 / 1.33, abs=0.2)


def test_rimea4() -> None:
    _ok(checks.rimea4())


def test_rimea7() -> None:
    _ok(checks.rimea7())


def test_rimea12() -> None:
    r = checks.rimea12()
    _ok(r)
    assert r.details["passed"] == 150


def test_rimea9_reduced_crowd() -> None:
    r = checks.rimea9(people=250)
    _ok(r)
    assert r.details["t4_s"] < r.details["t2_s"]


@pytest.mark.slow
def test_rimea9() -> None:
    r = checks.rimea9()
    _ok(r)
    assert r.details["t4_s"] < r.details["t2_s"]


def test_bottleneck_half_metre() -> None:
    r = checks.bottleneck_check()
    _ok(r)
    assert r.details["passed"] == 75


def test_neighbour_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 10, (200, 2))
    for periodic in (None, 10.0):
        i, j, d = neighbour_pairs(pos, 1.5, periodic)
        dd = pos[:, None] - pos[None]
        if periodic:
            dd[..., 0] -= periodic * np.round(dd[..., 0] / periodic)
        close = (np.hypot(dd[..., 0], dd[..., 1]) < 1.5) & ~np.eye(200, dtype=bool)
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(zip(*np.nonzero(close), strict=True))
        assert np.allclose(d, dd[i, j])


def test_box_walls_leave_gaps() -> None:
    w = box_walls(0, 0, 10, 4, (("right", 1.0, 2.0),))
    assert (10, 0, 10, 1.0) in w and (10, 2.0, 10, 4) in w and len(w) == 5
