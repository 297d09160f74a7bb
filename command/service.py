"""The command service: stores gate events, keeps the crowd state, publishes live updates.

It only moves data between the database, the pure state/decision modules and the hub.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import asyncpg

from command import store
from command.errors import StoreUnavailable
from command.hub import Hub
from command.state import CrowdState
from eventguard.config import Venue
from eventguard.wire import (
    BatchAck,
    EventBatch,
    GatesUpdate,
    OrderAck,
    Snapshot,
    WatchlistHitReport,
    ZonesUpdate,
    encode,
)

log = logging.getLogger(__name__)


class CommandService:
    """Shared state of one command server process."""

    def __init__(self, venue: Venue, pool: asyncpg.Pool, hub: Hub,
                 clock: Callable[[], float] = time.time) -> None:
        self.venue = venue
        self.pool = pool
        self.hub = hub
        self.clock = clock
        self.state = CrowdState(venue)
        self._lock = asyncio.Lock()  # serialises apply+publish so deltas stay ordered

    async def start(self) -> None:
        """Sync the venue into the database and load the stored counters."""
        async with self.pool.acquire() as conn:
            await store.sync_venue(conn, self.venue)
            self.state.load(await store.zone_counters(conn), await store.gate_counters(conn))

    async def ingest(self, batch: EventBatch) -> BatchAck:
        """Store a batch (idempotently), then update the state and publish the changes."""
        try:
            async with self.pool.acquire(timeout=10) as conn:
                stored = await store.store_events(conn, batch.events, self.state.gate_zone)
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err
        if stored.new:
            async with self._lock:
                now = self.clock()
                zones, gates = self.state.apply(stored.new, now)
                self._publish(zones, gates, now, last_scan_at=max(e.at for e in stored.new))
        return BatchAck(batch_id=batch.batch_id, stored=len(stored.new), duplicates=stored.duplicates)

    async def handle_gate_report(self, gate_id: str, report: WatchlistHitReport | OrderAck) -> None:
        """Record a screening hit or an order acknowledgement from a gate in the audit log."""
        try:
            async with self.pool.acquire(timeout=10) as conn:
                if isinstance(report, WatchlistHitReport):
                    await store.audit(conn, gate_id, "gate", "watchlist_hit", report.entry_id,
                                      {"list": report.list_id, "severity": report.severity,
                                       "distance": report.distance, "event_id": report.event_id})
                else:
                    await store.audit(conn, gate_id, "gate", "order_ack", str(report.order_id),
                                      {"by": report.by})
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err

    def set_gate_online(self, gate_id: str, online: bool) -> None:
        """Mark a gate connected or disconnected and publish it."""
        g = self.state.gates.get(gate_id)
        if g is not None and g.online != online:
            g.online = online
            self._publish(set(), {gate_id}, self.clock())

    def _publish(self, zones: Sequence[str] | set[str], gates: Sequence[str] | set[str], now: float,
                 last_scan_at: float | None = None) -> None:
        if zones:
            msg = ZonesUpdate(zones=tuple(self.state.zone_view(z, now) for z in sorted(zones)), at=now,
                              last_scan_at=last_scan_at)
            self.hub.publish(encode(msg).decode())
        if gates:
            gmsg = GatesUpdate(gates=tuple(self.state.gate_view(g, now) for g in sorted(gates)), at=now)
            self.hub.publish(encode(gmsg).decode())

    def snapshot(self) -> Snapshot:
        """Everything a live client needs on (re)connect."""
        now = self.clock()
        return Snapshot(
            event_id=self.venue.event.id, event_name=self.venue.event.name,
            zones=tuple(self.state.zone_view(z.id, now) for z in self.venue.zones),
            gates=tuple(self.state.gate_view(g, now) for g in sorted(self.state.gates)),
            at=now,
        )
