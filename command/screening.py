"""Screening review, the pure part: which unit a confirmed hit sends, and how long a case waited.

A 1:N match is a probability, never a verdict: every candidate (a gate's hit, a registrant's
match) is a case that a commander or operator confirms or dismisses (command/screening_api.py);
the store is command/screening_store.py. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from eventguard.codes import UnitStatus


@dataclass(frozen=True, slots=True)
class UnitAt:
    """A unit as the dispatcher sees it."""

    id: str
    status: str
    x: float | None
    y: float | None


def nearest_available(units: Sequence[UnitAt], at: tuple[float, float]) -> UnitAt | None:
    """The available unit nearest to `at` (venue metres); units with no position come after
    every placed one (by id); None when none is available."""
    free = [u for u in units if u.status == UnitStatus.AVAILABLE]

    def key(u: UnitAt) -> tuple[float, str]:
        if u.x is None or u.y is None:
            return (math.inf, u.id)
        return (math.hypot(u.x - at[0], u.y - at[1]), u.id)

    return min(free, key=key, default=None)


def decision_seconds(found_at: float, decided_at: float) -> float:
    """Time from the hit (or the pre-screening run) to the reviewer's decision, never negative
    (a gate's clock may run ahead of the server's)."""
    return max(0.0, decided_at - found_at)
