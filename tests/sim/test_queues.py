"""Gate lanes admit at the configured service rate under saturation."""

import numpy as np
import pytest

from sim.queues import LaneService, serve


def _run(lanes: list[int], service: LaneService, seconds: int, dt: float,
         backlog: int = 10**6) -> np.ndarray:
    rng = np.random.default_rng(3)
    n = len(lanes)
    queue = np.full(n, backlog, dtype=np.int64)
    credit = np.zeros(n)
    lanes_a = np.array(lanes, dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    for _ in range(int(seconds / dt)):
        adm, credit = serve(queue, credit, lanes_a, np.ones(n, dtype=bool), dt, service, rng)
        queue = queue - adm
        total += adm
    return total


@pytest.mark.parametrize("dt", [0.5, 1.0, 5.0])
def test_saturated_throughput_per_lane(dt: float) -> None:
    total = _run([1, 2, 4, 6], LaneService(), 3600, dt)
    expected = np.array([1, 2, 4, 6]) * 3600 / 5.5
    assert np.allclose(total, expected, rtol=0.01)
    assert 650 < total[0] < 665


def test_secondary_checks_slow_lanes() -> None:
    svc = LaneService(secondary_p=0.1, secondary_s=30.0)
    total = _run([10], svc, 3600 * 4, 1.0)
    assert total[0] / 4 == pytest.approx(svc.per_hour(10), rel=0.03)
    assert svc.per_hour(10) < LaneService().per_hour(10) * 0.7


def test_never_admits_more_than_queued_or_when_closed() -> None:
    rng = np.random.default_rng(0)
    queue = np.array([0, 1, 50], dtype=np.int64)
    credit = np.full(3, 100.0)
    adm, _ = serve(queue, credit, np.array([5, 5, 5]), np.ones(3, dtype=bool), 1.0,
                   LaneService(), rng)
    assert adm.tolist() == [0, 1, 19]  # floor((100 + 5) / 5.5)
    adm, c = serve(queue, credit, np.array([5, 5, 5]), np.zeros(3, dtype=bool), 1.0,
                   LaneService(), rng)
    assert adm.tolist() == [0, 0, 0] and np.array_equal(c, credit)


def test_idle_lanes_do_not_bank_time() -> None:
    rng = np.random.default_rng(0)
    credit = np.zeros(1)
    for _ in range(600):
        adm, credit = serve(np.zeros(1, dtype=np.int64), credit, np.array([2]),
                            np.ones(1, dtype=bool), 1.0, LaneService(), rng)
    adm, _ = serve(np.array([100], dtype=np.int64), credit, np.array([2]),
                   np.ones(1, dtype=bool), 1.0, LaneService(), rng)
    assert adm[0] == 2
