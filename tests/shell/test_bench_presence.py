"""`eventguard bench presence` on a small venue: every admission reaches every other gate."""

from __future__ import annotations

import pytest

from shell import bench_presence

pytestmark = pytest.mark.slow


def test_every_admission_reaches_every_other_gate() -> None:
    report = bench_presence.run(gates=3, tickets=20, rate=20.0)
    assert report["admitted"] == 20 and report["denied"] == 0
    assert report["pairs"] == 40 and report["missing_pairs"] == 0
    p = report["propagation_ms"]
    assert 0 < p["p50"] <= p["p95"] <= p["p99"] <= p["max"]
    assert report["conditions"]["gates"] == 3
