"""The twin service beside the command server (issue 19): every `interval_s` it seeds the venue
model with the live state, runs it 15 minutes ahead in its own thread (never on the event
loop), keeps the latest forecast for REST, pushes it to live maps and turns forecast crossings
into alerts. What-if questions run in the same thread, the baseline and the change side by side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from command import alerts as al
from command import evacuation, store, sync_store
from command.errors import StoreUnavailable
from command.service import CommandService
from command.twin import TwinInput, TwinModel, TwinOutput, seed, to_update
from eventguard.wire import TwinUpdate, WhatIfChange, encode

log = logging.getLogger(__name__)


def _timed(model: TwinModel, inp: TwinInput) -> tuple[TwinOutput, float]:
    t = time.perf_counter()
    out = model(inp)
    return out, time.perf_counter() - t


class TwinService:
    """Runs the twin for one command server."""

    def __init__(self, service: CommandService, model: TwinModel, *, interval_s: float = 30.0,
                 horizon_s: float = 900.0) -> None:
        self.service = service
        self.model = model
        self.interval_s = interval_s
        self.horizon_s = horizon_s
        self.latest: TwinUpdate | None = None
        self.runs = 0
        # one thread: runs are serialised, and the model's numpy work never touches the loop
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin")

    def close(self) -> None:
        """Stop the model thread (a run in progress finishes on its own)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        """Forecast every interval until cancelled (a failed round is logged and retried)."""
        while True:
            try:
                await self.refresh()
            except StoreUnavailable as err:
                log.warning("twin round skipped: %s", err)
            except Exception:
                log.exception("twin round failed")
            await asyncio.sleep(self.interval_s)

    async def _input(self, changes: tuple[WhatIfChange, ...] = ()) -> tuple[TwinInput, float]:
        svc = self.service
        try:
            async with svc.pool.acquire(timeout=5) as conn:
                entry_open = await sync_store.entry_open(conn, svc.venue.event.id)
                evac = await evacuation.current(conn, svc.venue.event.id)  # issue 20
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err
        closed = frozenset() if entry_open else frozenset(g.id for g in svc.venue.gates)
        if evac is not None and evac["active"]:  # gates on free exit admit nobody
            closed |= frozenset(evacuation.affected_gates(svc.venue, evac["zones"]))
        doors = svc.venue.event.doors_open
        t0 = doors.timestamp() if doors is not None else svc.started_at
        async with svc._lock:  # a consistent picture: no batch half applied
            now = svc.clock()
            inp = seed(svc.state, svc.venue, now, t0, gates_closed=closed, horizon_s=self.horizon_s,
                       changes=changes)
        return inp, now

    async def _forecast(self, inp: TwinInput, state_at: float) -> TwinUpdate:
        loop = asyncio.get_running_loop()
        out, wall = await loop.run_in_executor(self._executor, _timed, self.model, inp)
        return to_update(inp, out, self.service.venue, state_at=state_at,
                         computed_at=self.service.clock(), wall_s=wall)

    async def refresh(self) -> TwinUpdate:
        """One round: forecast, keep, publish, alert."""
        inp, state_at = await self._input()
        update = await self._forecast(inp, state_at)
        self.latest = update
        self.runs += 1
        self.service.hub.publish(encode(update).decode())
        await self._alerts(update, inp)
        return update

    async def whatif(self, changes: tuple[WhatIfChange, ...]) -> tuple[TwinUpdate, TwinUpdate]:
        """The baseline and the forecast with `changes`, from the same live state."""
        inp, state_at = await self._input()
        baseline = await self._forecast(inp, state_at)
        changed = await self._forecast(replace(inp, changes=changes), state_at)
        return baseline, changed

    async def _alerts(self, update: TwinUpdate, inp: TwinInput) -> None:
        svc = self.service
        crossings = {}
        for z in update.zones:
            zone = svc.venue.zone(z.id)
            now_density = inp.occupancy.get(z.id, 0) / zone.area_m2
            crossings[z.id] = al.crossing_of(now_density, z.warning_density, z.critical_density,
                                             z.warning_in_s, z.critical_in_s, max(z.density, default=0.0))
        async with svc._lock:
            svc.book, changes = al.forecast_crossings(svc.book, crossings, svc.clock(), update.computed_at)
        if changes:
            try:
                async with svc.pool.acquire(timeout=5) as conn:
                    await store.save_alerts(conn, [c.alert for c in changes])
            except store.DB_DOWN as err:
                raise StoreUnavailable(str(err)) from err
            svc._publish_alerts([c.alert for c in changes])

