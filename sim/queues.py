"""Gate lanes as queues with service times (count-based, no per-person loop).

Each lane admits one person every `admit_s` seconds (5.5 s, about 655 per hour per lane);
with probability `secondary_p` a person needs a secondary check that keeps the lane busy
`secondary_s` seconds longer. A gate's lanes are pooled: the gate holds `credit`, the lane
seconds available. Every step adds lanes * dt; a person is admitted when at least `admit_s`
of credit is left, and the secondary checks drawn for the admitted people are charged
afterwards (credit may go negative: lanes busy). Idle lanes bank at most one admission each.
Mean saturated throughput is therefore lanes / (admit_s + secondary_p * secondary_s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LaneService:
    """Service times at one turnstile lane."""

    admit_s: float = 5.5
    secondary_p: float = 0.0
    secondary_s: float = 30.0

    def __post_init__(self) -> None:
        if self.admit_s <= 0 or self.secondary_s < 0 or not 0.0 <= self.secondary_p <= 1.0:
            raise ValueError(f"invalid lane service {self!r}")

    @property
    def mean_s(self) -> float:
        """Mean lane seconds per admitted person."""
        return self.admit_s + self.secondary_p * self.secondary_s

    def per_hour(self, lanes: int = 1) -> float:
        """Saturated throughput of `lanes` lanes in persons per hour."""
        return lanes * 3600.0 / self.mean_s


def serve(queue: IntArray, credit: FloatArray, lanes: IntArray, open_: npt.NDArray[np.bool_],
          dt: float, service: LaneService, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Admit people from each gate's queue for one step; returns (admitted, new credit).

    `open_` marks gates that admit this step (a closed gate banks no credit).
    Inputs are not modified.
    """
    cap = lanes * service.admit_s
    c = np.where(open_, credit + lanes * dt, credit)
    can = np.where(open_ & (c >= service.admit_s), np.floor(c / service.admit_s), 0.0)
    admitted = np.minimum(queue, can.astype(np.int64))
    extra = rng.binomial(admitted, service.secondary_p) if service.secondary_p > 0 else 0
    c = c - admitted * service.admit_s - np.asarray(extra, dtype=np.float64) * service.secondary_s
    idle = open_ & (queue - admitted == 0)
    c = np.where(idle, np.minimum(c, cap), c)
    return admitted.astype(np.int64), c
