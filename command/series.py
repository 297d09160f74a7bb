"""Recent history per zone and per gate for the live map's charts (issue 20): sampled by the
server, so a reload (or a second screen) shows the last minutes instead of starting empty.

`History` is pure (readings in, rows out and the ids whose reading moved); `series_ctx` samples
the command service every EVERY_S seconds for the app's lifetime and has the ids whose reading
moved sent to the live maps again: a rate over the last minute falls with time alone, and a map
fed only by events would hold a gate's or zone's last rate for good."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from command.appkeys import SERVICE
from eventguard.wire import GateView, ZoneView

WINDOW_S = 600.0  # ten minutes, the charts' window
EVERY_S = 2.0


class History:
    """Rows (time, value, value) per id, the last `window_s` seconds."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self.zones: dict[str, deque[tuple[float, int, float]]] = {}  # t, occupancy, inflow/min
        self.gates: dict[str, deque[tuple[float, float, float]]] = {}  # t, entries/min, queue

    def add(self, now: float, zones: Iterable[ZoneView], gates: Iterable[GateView]) -> tuple[set[str], set[str]]:
        """One reading of every zone and gate at `now`; the ids (zones, gates) whose reading
        differs from their previous one (a rate that fell as its window moved on, say)."""
        cutoff = now - self.window_s
        moved_zones: set[str] = set()
        moved_gates: set[str] = set()
        for z in zones:
            if self._put(self.zones.setdefault(z.id, deque()), (now, z.occupancy, round(z.inflow_per_min, 1)), cutoff):
                moved_zones.add(z.id)
        for g in gates:
            if self._put(self.gates.setdefault(g.id, deque()), (now, round(g.entries_per_min, 1), round(g.queue, 1)),
                         cutoff):
                moved_gates.add(g.id)
        return moved_zones, moved_gates

    @staticmethod
    def _put(rows: deque[tuple[float, float, float]] | deque[tuple[float, int, float]],
             row: tuple[float, float, float], cutoff: float) -> bool:
        """Append `row`, drop rows older than `cutoff`; whether its values differ from the last row's."""
        moved = bool(rows) and rows[-1][1:] != row[1:]
        rows.append(row)  # type: ignore[arg-type]
        while rows and rows[0][0] < cutoff:
            rows.popleft()
        return moved

    def to_wire(self) -> dict[str, object]:
        """The JSON body of GET /api/series."""
        return {"window_s": self.window_s, "every_s": EVERY_S,
                "zones": {k: [list(r) for r in v] for k, v in self.zones.items()},
                "zone_columns": ["at", "occupancy", "inflow_per_min"],
                "gates": {k: [list(r) for r in v] for k, v in self.gates.items()},
                "gate_columns": ["at", "entries_per_min", "queue"]}


HISTORY = web.AppKey("history", History)


async def series_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sample the crowd picture every EVERY_S while the app runs (after the database ctx)."""
    history = app[HISTORY] = History()

    async def sample() -> None:
        while True:
            service = app[SERVICE]
            now = service.clock()
            moved = history.add(now, (service.zone_view(z.id, now) for z in service.venue.zones),
                                (service.state.gate_view(g, now) for g in sorted(service.state.gates)))
            service.republish(*moved)  # live maps see a rate fall to 0 without waiting for an event
            await asyncio.sleep(EVERY_S)

    task = asyncio.create_task(sample(), name="series")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
