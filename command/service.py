"""The command service: stores gate events, keeps the crowd state, raises alerts, routes
orders, and publishes live updates. It only moves data between the database, the pure
state/decision modules (state, density, forecast, alerts, dispatch) and the hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from command import alerts as al
from command import (
    camera_store,
    crowdsense,
    dispatch,
    incidents,
    proposals,
    screening_store,
    store,
    walking,
)
from command.camera_live import CameraFeed
from command.density import GridMapper, zone_state
from command.errors import ModelMismatch, NotFound, StoreUnavailable, ValueRefused
from command.forecast import time_to_capacity
from command.hub import Hub
from command.responders import Responders
from command.state import CrowdState
from command.texts import alert_message
from eventguard.codes import OrderKind, OrderStatus
from eventguard.config import Venue
from eventguard.wire import (
    AlertsUpdate,
    AlertView,
    BatchAck,
    CameraLive,
    CameraReport,
    EventBatch,
    GateEvent,
    GatesUpdate,
    GridUpdate,
    IncidentView,
    OpsUpdate,
    Order,
    OrderAck,
    OrderCancelled,
    RejectedEvent,
    Snapshot,
    UnitView,
    WatchlistHitReport,
    ZonesUpdate,
    ZoneView,
    encode,
)

log = logging.getLogger(__name__)

SAMPLE_WINDOW_S = 600.0
LANE_SERVICE_S = 5.5  # seconds per person at a turnstile lane (~660 per hour), for queue waits


ZONE_ALERTS = (al.AlertKind.CAPACITY_FORECAST, al.AlertKind.DENSITY_WARNING, al.AlertKind.DENSITY_CRITICAL)


def alert_view(a: al.Alert, suggestions: dict[str, list[dict[str, Any]]] | None = None) -> AlertView:
    """Alert record -> wire view (zone alerts carry the orders proposed for their zone)."""
    details: dict[str, Any] = {**a.details, "value": a.value}
    if suggestions and a.kind in ZONE_ALERTS and suggestions.get(a.subject):
        details["suggestions"] = suggestions[a.subject]
    return AlertView(id=a.id, kind=a.kind, level=a.level, subject=a.subject,
                     status=a.status, message=alert_message(a, details), raised_at=a.raised_at,
                     details=details)


SCREENING_ALERTS = frozenset({al.AlertKind.WATCHLIST_HIT})


def for_viewer(view: AlertView) -> AlertView:
    """What a viewer sees of an alert: that a screening alert exists and where, not whom it
    concerns (no list, entry, distance or ticket). Other alerts are shown whole."""
    if view.kind not in SCREENING_ALERTS:
        return view
    gate = view.details.get("gate_id")
    return msgspec.structs.replace(view, subject="screening", details={"gate_id": gate},
                                   message=f"screening candidate at gate {gate} — reviewed by a commander or operator")


def snapshot_for_viewer(snap: Snapshot) -> Snapshot:
    """A snapshot with every alert as a viewer sees it."""
    return msgspec.structs.replace(snap, alerts=tuple(for_viewer(a) for a in snap.alerts))


class CommandService:
    """Shared state of one command server process."""

    def __init__(self, venue: Venue, pool: asyncpg.Pool, hub: Hub, *,
                 clock: Callable[[], float] = time.time, order_ack_timeout_s: float = 60.0,
                 alert_cfg: al.AlertConfig | None = None, cell_m: float = 2.0,
                 responders: Responders | None = None) -> None:
        self.venue = venue
        self.pool = pool
        self.hub = hub
        self.responders = responders if responders is not None else Responders()  # units' pages (issue 20)
        self.clock = clock
        self.order_ack_timeout_s = order_ack_timeout_s
        self.alert_cfg = alert_cfg or al.AlertConfig(
            thresholds=venue.thresholds, zone_thresholds={z.id: venue.thresholds_for(z.id) for z in venue.zones})
        self.state = CrowdState(venue)
        self.grid = GridMapper(venue, cell_m)
        self.book = al.AlertBook()
        self.samples: dict[str, deque[tuple[float, float]]] = {z.id: deque() for z in venue.zones}
        self.forecasts: dict[str, float | None] = {}
        self.suggestions: dict[str, list[dict[str, Any]]] = {}  # zone id -> proposed orders
        self.gate_sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.started_at = clock()
        self._lock = asyncio.Lock()  # serialises state changes + publishing so deltas stay ordered
        self._last_grid: tuple[int, ...] | None = None
        # crowd deltas are coalesced: at most one zones/gates message per live interval
        self._dirty = asyncio.Event()
        self._dirty_zones: set[str] = set()
        self._dirty_gates: set[str] = set()
        self._last_scan_at: float | None = None
        # crowd sensing (issue 18): camera estimates, density alarms, data quality
        self.cameras = crowdsense.CameraPicture()
        self.camera_tracks = crowdsense.Tracks()
        self.density_alarms = {a.zone: a for a in venue.density_alarms}
        self.quality_bound = crowdsense.QualityBound()
        self.camera_feed = CameraFeed()  # latest grid and thumbnail per camera, in memory only
        # issue 20: lanes the gates have shut (acknowledged lane orders), for suggestions and proposals
        self.closed_lanes: dict[str, frozenset[int]] = {}

    # ---- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Sync the venue into the database and load counters and open alerts."""
        async with self.pool.acquire() as conn:
            await store.sync_venue(conn, self.venue)
            self.state.load(await store.zone_counters(conn), await store.gate_counters(conn))
            next_id = await store.max_alert_id(conn) + 1
            rows = await store.open_alert_rows(conn)
            self.closed_lanes = proposals.closed_lanes(await dispatch.list_orders(conn))
        alerts = {}
        for r in rows:
            a = al.Alert(id=r["id"], kind=al.AlertKind(r["kind"]), level=al.AlertLevel(r["level"]),
                         subject=r["subject"], status=al.AlertStatus(r["status"]),
                         raised_at=r["raised_at"].timestamp(), updated_at=r["updated_at"].timestamp(),
                         value=r["value"], details=dict(store_json(r["details"])),
                         acknowledged_by=r["acknowledged_by"],
                         acknowledged_at=r["acknowledged_at"].timestamp() if r["acknowledged_at"] else None)
            alerts[a.key] = a
        self.book = al.AlertBook(alerts, next_id=next_id)

    async def run_publisher(self, interval_s: float = 0.1, gates_every: int = 5) -> None:
        """Publish coalesced crowd deltas: waits for a change, sends, then rests interval_s.
        Zone deltas go out every round; gate counters only every `gates_every` rounds."""
        rounds = 0
        while True:
            await self._dirty.wait()
            rounds += 1
            async with self._lock:
                self._dirty.clear()
                zones, last = self._dirty_zones, self._last_scan_at
                self._dirty_zones, self._last_scan_at = set(), None
                gates: set[str] = set()
                if rounds % gates_every == 0 or not zones:
                    gates, self._dirty_gates = self._dirty_gates, set()
                elif self._dirty_gates:
                    self._dirty.set()  # come back for the gates
                self._publish_crowd(zones, gates, self.clock(), last_scan_at=last)
            await asyncio.sleep(interval_s)

    async def run_ticker(self, interval_s: float = 1.0) -> None:
        """Evaluate alerts, publish the grid and escalate orders every interval (until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.tick()
            except StoreUnavailable as err:
                log.warning("tick skipped: %s", err)
            except Exception:
                log.exception("tick failed")

    # ---- ingest ---------------------------------------------------------------------------

    async def ingest(self, batch: EventBatch, gate_id: str = "",
                     rejected: Sequence[RejectedEvent] = ()) -> BatchAck:
        """Store a batch (idempotently; events that cannot be stored are set aside with their
        reason, `rejected` ones too), then update the state and publish the changes."""
        try:
            async with self.pool.acquire(timeout=5) as conn:
                stored = await store.store_events(conn, batch.events, self.state.gate_zone, self.venue.event.id,
                                                  gate_id=gate_id, batch_id=batch.batch_id, rejected=rejected)
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err
        if stored.rejected:
            log.warning("gate %s batch %s: %d event(s) set aside in rejected_events", gate_id,
                        batch.batch_id, stored.rejected)
        if stored.conflicts:
            await self._passback_conflicts(stored.conflicts)
        if stored.new:
            async with self._lock:
                zones, gates = self.state.apply(stored.new, self.clock(), stored.zone_gate)
                self._dirty_zones |= zones
                self._dirty_gates |= gates
                self._last_scan_at = max(self._last_scan_at or 0.0, max(e.at for e in stored.new))
                self._dirty.set()
        return BatchAck(batch_id=batch.batch_id, stored=len(stored.new), duplicates=stored.duplicates,
                        rejected=stored.rejected)

    async def reset_presence(self, by: str, role: str) -> int:
        """Mark every ticket inside as outside (synced to gates), zero the zone counters and the
        live state, audited; the number of tickets counted out."""
        try:
            async with self.pool.acquire(timeout=5) as conn, conn.transaction():
                out = await store.reset_presence(conn, self.venue.event.id, self.clock())
                await store.audit(conn, by, role, "presence_reset", self.venue.event.id, {"tickets_out": out})
                zones = await store.zone_counters(conn)
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err
        async with self._lock:
            self.state.load(zones, {})
            self._dirty_zones |= set(self.state.zones)
            self._dirty.set()
        return out

    async def _passback_conflicts(self, events: tuple[GateEvent, ...]) -> None:
        """One alert per ticket admitted again while inside (after the events are stored)."""
        try:
            async with self.pool.acquire(timeout=5) as conn:
                for e in events:
                    assert e.ticket_id is not None
                    first = await conn.fetchrow(
                        "SELECT gate_id, at FROM gate_events WHERE ticket_id = $1 AND kind = 'entry'"
                        " AND event_id <> $2 ORDER BY at DESC LIMIT 1", e.ticket_id, e.event_id)
                    async with self._lock:
                        self.book, change = al.passback_alert(
                            self.book, ticket_id=e.ticket_id, gate_id=e.gate_id, at=e.at,
                            first_gate_id=first["gate_id"] if first else None,
                            first_at=first["at"].timestamp() if first else None, now=self.clock())
                        if change is not None:
                            await store.save_alerts(conn, [change.alert])
                            self._publish_alerts([change.alert])
        except store.DB_DOWN as err:  # the events are stored; the next conflict raises it again
            log.warning("passback alert not saved: %s", err)

    async def handle_gate_report(self, gate_id: str, report: WatchlistHitReport | OrderAck, *,
                                 capture_sealed: bytes | None = None) -> None:
        """A screening hit (stored with its sealed capture, its review case, alert and audit row,
        in one transaction) or an order acknowledgement from a gate."""
        try:
            async with self.pool.acquire(timeout=10) as conn:
                if isinstance(report, WatchlistHitReport):
                    # imported here: command.watchlists imports command.appkeys, which imports this module
                    from command import watchlist_store

                    # the list and severity are the server's, not what the gate says they are
                    truth = await watchlist_store.entry_list(conn, report.entry_id)
                    if truth is None:
                        raise NotFound(f"no watchlist entry {report.entry_id}")
                    report = msgspec.structs.replace(report, list_id=truth[0], severity=truth[1])
                    # issue 13: a distance between embeddings of two models means nothing
                    model = await screening_store.entry_model(conn, report.entry_id)
                    if report.model_id is not None and report.model_id != model:
                        await store.audit(conn, gate_id, "gate", "watchlist_hit_refused", report.entry_id,
                                          {"event_id": report.event_id, "reason": "model_mismatch",
                                           "hit_model": report.model_id, "entry_model": model})
                        raise ModelMismatch(f"hit {report.event_id} on entry {report.entry_id} was made by model "
                                            f"{report.model_id}; the entry's embedding is {model}")
                    async with self._lock:  # the hit, its audit row and its alert commit together
                        book, change = al.watchlist_alert(
                            self.book, event_id=report.event_id, gate_id=gate_id, list_id=report.list_id,
                            entry_id=report.entry_id, severity=report.severity, now=self.clock(),
                            distance=report.distance, ticket_id=report.ticket_id)
                        async with conn.transaction():
                            hit_id = await screening_store.store_gate_hit(conn, gate_id, report, capture_sealed)
                            if hit_id is None:
                                return  # a replayed report: stored, audited and alerted the first time
                            await store.audit(conn, gate_id, "gate", "watchlist_hit", report.entry_id,
                                              {"list": report.list_id, "severity": report.severity,
                                               "distance": report.distance, "event_id": report.event_id,
                                               "threshold": report.threshold, "hit_id": hit_id,
                                               "capture": capture_sealed is not None})
                            if change is not None:
                                await store.save_alerts(conn, [change.alert])
                        self.book = book  # only once the transaction committed
                        if change is not None:
                            self._publish_alerts([change.alert])
                else:
                    order = await dispatch.acknowledge_order(conn, report.order_id, report.by or gate_id,
                                                             target=gate_id)
                    await store.audit(conn, gate_id, "gate", "order_ack", str(report.order_id), {"by": report.by})
                    self.publish_ops(orders=[order])
                    if order.kind in (OrderKind.CLOSE_LANE, OrderKind.OPEN_LANE):
                        self.closed_lanes = proposals.closed_lanes(await dispatch.list_orders(conn))
        except store.REFUSED as err:
            raise ValueRefused(f"{type(report).__name__} refused by the database: {type(err).__name__}") from err
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err

    # ---- gates ------------------------------------------------------------------------------

    def gate_connected(self, gate_id: str, ws: web.WebSocketResponse) -> None:
        """Register a gate socket (orders go to every socket of the gate)."""
        self.gate_sockets.setdefault(gate_id, set()).add(ws)
        self._set_gate_online(gate_id, True)

    def gate_disconnected(self, gate_id: str, ws: web.WebSocketResponse) -> None:
        """Forget a gate socket."""
        socks = self.gate_sockets.get(gate_id, set())
        socks.discard(ws)
        if not socks:
            self._set_gate_online(gate_id, False)

    def set_gate_online(self, gate_id: str, online: bool) -> None:
        """Mark a gate connected or disconnected and publish it (kept for tools)."""
        self._set_gate_online(gate_id, online)

    def _set_gate_online(self, gate_id: str, online: bool) -> None:
        g = self.state.gates.get(gate_id)
        if g is not None and g.online != online:
            now = self.clock()
            g.online = online
            g.offline_since = None if online else now
            self._publish_crowd(set(), {gate_id}, now)

    async def deliver_order(self, order: Order) -> int:
        """Send a gate order to the gate's open sockets (a called-off one as its cancellation);
        returns how many got it. A gate offline now gets it when it connects (command/gate_ws.py)."""
        msg = (OrderCancelled(order_id=order.order_id, kind=order.kind, target=order.target)
               if order.status == OrderStatus.CANCELLED else order)
        sent = 0
        for ws in list(self.gate_sockets.get(order.target, ())):
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await ws.send_str(encode(msg).decode())
                sent += 1
        return sent

    # ---- alerts -----------------------------------------------------------------------------

    def observations(self, now: float) -> al.Observations:
        """What the alert evaluator looks at now."""
        zones = {}
        for z in self.venue.zones:
            c = self.state.zones[z.id]
            zones[z.id] = crowdsense.fuse(zone_state(z, c.occupancy, c.inflow.rate_per_min(now),
                                                     c.outflow.rate_per_min(now)), self.cameras.density(z.id, now))
        gates = {gid: al.GateStats(decisions=g.decision_rate.count(now), denied=g.deny_rate.count(now),
                                   last_event_at=g.last_event_at, offline_since=g.offline_since)
                 for gid, g in self.state.gates.items()}
        doors = self.venue.event.doors_open.timestamp() if self.venue.event.doors_open else None
        opened = max(doors, self.started_at) if doors is not None else self.started_at
        return al.Observations(zones=zones, forecasts=dict(self.forecasts), gates=gates,
                               event_open_since=opened if now >= opened else None)

    async def tick(self) -> None:
        """One evaluation round."""
        now = self.clock()
        async with self._lock:
            occupancy = self.state.occupancy()
            for z in self.venue.zones:
                s = self.samples[z.id]
                s.append((now, float(occupancy[z.id])))
                while s and s[0][0] < now - SAMPLE_WINDOW_S:
                    s.popleft()
                self.forecasts[z.id] = time_to_capacity(z, list(s), self.venue.thresholds_for(z.id), now)
            obs = self.observations(now)
            self.book, changes = al.evaluate(self.book, obs, now, self.alert_cfg)
            self.book, self.camera_tracks, more = crowdsense.evaluate(
                self.book, self.camera_tracks, self._zone_readings(occupancy, now), self.density_alarms,
                self.quality_bound, now)
            changes = [*changes, *more]
            self.suggestions = self._suggest(obs)
            grid = self.grid.densities(self._fused_people(occupancy, now)).to_wire()
            if grid["deci_density"] != self._last_grid:
                self._last_grid = grid["deci_density"]
                self.hub.publish(encode(GridUpdate(**grid, at=now)).decode())
        if changes:
            try:
                async with self.pool.acquire(timeout=5) as conn:
                    await store.save_alerts(conn, [c.alert for c in changes])
                    for c in changes:  # issue 20: an alert that clears by itself closes its chain in the audit
                        if c.change is al.ChangeKind.CLEARED:
                            await store.audit(conn, "system", "system", "alert_clear", str(c.alert.id),
                                              {"kind": c.alert.kind.value, "subject": c.alert.subject})
            except store.DB_DOWN as err:
                raise StoreUnavailable(str(err)) from err
            self._publish_alerts([c.alert for c in changes])
        await self._escalate(now)

    def _suggest(self, obs: al.Observations) -> dict[str, list[dict[str, Any]]]:
        """Proposed orders (meter, divert, open lanes) per zone at risk, for the alert feed."""
        gates_by_zone: dict[str, list[al.GateLanes]] = {}
        for g in self.venue.gates:
            queue = self.state.gates[g.id].queue if g.id in self.state.gates else 0
            gates_by_zone.setdefault(g.zone, []).append(
                al.GateLanes(g.id, g.lanes, g.lanes - len(self.closed_lanes.get(g.id, ())),
                             queue_wait_s=queue * LANE_SERVICE_S / g.lanes))
        forecasts = dict(obs.forecasts)
        for a in self.book.values():  # a zone over its density line is at risk now, whatever the trend
            if a.kind in (al.AlertKind.DENSITY_WARNING, al.AlertKind.DENSITY_CRITICAL):
                forecasts[a.subject] = 0.0
        out: dict[str, list[dict[str, Any]]] = {}
        for x in al.suggest_actions(obs.zones, forecasts, gates_by_zone,
                                    al.SuggestConfig(horizon_s=self.venue.thresholds.forecast_horizon_s)):
            out.setdefault(x.zone_id, []).append({"action": x.action.value, "gate": x.gate_id,
                                                  "target_gate": x.target_gate_id,
                                                  "target_zone": x.target_zone_id, "lanes": x.lanes})
        return out

    async def _escalate(self, now: float) -> None:
        try:
            async with self.pool.acquire(timeout=5) as conn:
                pending = await dispatch.list_orders(conn, pending_only=True)
                late = dispatch.overdue(pending, now, self.order_ack_timeout_s)
                if late:
                    escalated = await dispatch.escalate(conn, [o.order_id for o in late])
                    for o in escalated:
                        await store.audit(conn, "system", "system", "order_escalated", str(o.order_id),
                                          {"target": o.target, "waited_s": now - o.issued_at})
                    self.publish_ops(orders=escalated)
                    for o in escalated:
                        await self._follow_up(conn, o, now)
        except store.DB_DOWN as err:
            raise StoreUnavailable(str(err)) from err

    async def _follow_up(self, conn: asyncpg.Connection, order: Order, now: float) -> None:
        """An escalated order goes to the next proposed unit of the same kind, or, with nobody
        left (or a gate that did not answer), raises a critical alert for the commander."""
        units = await dispatch.list_units(conn)
        kinds = [u.kind for u in units if u.id == order.target]
        place = order.location or next((walking.unit_zone(self.venue, u) for u in units if u.id == order.target),
                                       None)
        tz = self.venue.event.starts_at.tzinfo if self.venue.event.starts_at else UTC
        at = datetime.fromtimestamp(now, tz)
        candidates = walking.propose(self.venue, units, place, kinds=kinds,
                                     minute_of_day=at.hour * 60 + at.minute) if place else []
        step = incidents.next_step(order, candidates, incidents.tried_units(order, await dispatch.list_orders(conn)))
        if isinstance(step, incidents.Redispatch):
            new = await dispatch.issue_order(
                conn, kind=order.kind, target=step.unit_id, by="system", location=order.location,
                note=f"escalated from order #{order.order_id}: {order.note}"[:1000],
                params={"escalated_from": order.order_id}, incident_id=order.incident_id, alert_id=order.alert_id)
            await store.audit(conn, "system", "system", "order_issue", str(new.order_id),
                              await dispatch.issue_details(conn, new))
            self.publish_ops(orders=[new], units=[u for u in await dispatch.list_units(conn) if u.id == new.target])
            return
        async with self._lock:
            self.book, change = al.order_alert(self.book, order_id=order.order_id, target=order.target,
                                               reason=step.reason, incident_id=order.incident_id, now=now)
        if change is not None:
            await store.save_alerts(conn, [change.alert])
            await store.audit(conn, "system", "system", "order_supervisor", str(order.order_id),
                              {"alert_id": change.alert.id, "reason": step.reason})
            self._publish_alerts([change.alert])

    async def acknowledge_alert(self, alert_id: int, by: str) -> al.Alert:
        """Operator acknowledges an open alert."""
        async with self._lock:
            self.book = al.acknowledge(self.book, alert_id, by, self.clock())
            alert = self.book.by_id(alert_id)
        async with self.pool.acquire(timeout=10) as conn:
            await store.save_alerts(conn, [alert])
        self._publish_alerts([alert])
        return alert

    async def resolve_alert(self, alert_id: int, by: str) -> al.Alert:
        """Operator resolves an open alert."""
        async with self._lock:
            now = self.clock()
            closed = al.resolved_alert(self.book.by_id(alert_id), by, now)
            self.book = al.resolve(self.book, alert_id, by, now)
        async with self.pool.acquire(timeout=10) as conn:
            await store.save_alerts(conn, [closed])
        self._publish_alerts([closed])
        return closed

    async def resolve_screening_alert(self, event_id: str, by: str) -> al.Alert | None:
        """Resolve the open watchlist alert of a gate hit once its cases are decided (issue 17);
        None when there is none open."""
        alert = self.book.get((al.AlertKind.WATCHLIST_HIT, event_id))
        return await self.resolve_alert(alert.id, by) if alert is not None else None

    # ---- publishing -------------------------------------------------------------------------

    def _publish_crowd(self, zones: Iterable[str], gates: Iterable[str], now: float,
                       last_scan_at: float | None = None) -> None:
        zs, gs = sorted(zones), sorted(gates)
        if zs:
            msg = ZonesUpdate(zones=tuple(self.zone_view(z, now) for z in zs),
                              at=now, last_scan_at=last_scan_at)
            self.hub.publish(encode(msg).decode())
        if gs:
            gmsg = GatesUpdate(gates=tuple(self.state.gate_view(g, now) for g in gs), at=now)
            self.hub.publish(encode(gmsg).decode())

    def republish(self, zones: Iterable[str], gates: Iterable[str]) -> None:
        """Send these zones and gates again with the next crowd delta: their rates moved with time
        alone (no event), and a live map would otherwise hold the old rate (issue 20's charts)."""
        zs, gs = set(zones), set(gates)
        if zs or gs:
            self._dirty_zones |= zs
            self._dirty_gates |= gs
            self._dirty.set()

    def _publish_alerts(self, alerts: Iterable[al.Alert]) -> None:
        views = tuple(alert_view(a, self.suggestions) for a in alerts)
        if views:
            now = self.clock()
            self.hub.publish(encode(AlertsUpdate(alerts=views, at=now)).decode(),
                             viewer=encode(AlertsUpdate(alerts=tuple(for_viewer(v) for v in views), at=now)).decode())

    def publish_ops(self, *, incidents: Iterable[IncidentView] = (), units: Iterable[UnitView] = (),
                    orders: Iterable[Order] = ()) -> None:
        """Publish changed incidents, units and orders (committed) to the live map, and tell the
        responder pages of the units concerned (issue 20): every order issued, escalated,
        acknowledged or cancelled, and every change of a unit, passes here."""
        msg = OpsUpdate(incidents=tuple(incidents), units=tuple(units), orders=tuple(orders), at=self.clock())
        if msg.incidents or msg.units or msg.orders:
            self.hub.publish(encode(msg).decode())
        self.responders.changed(msg.orders, msg.units)

    async def snapshot_async(self) -> Snapshot:
        """Snapshot including incidents, units and pending orders from the database."""
        base = self.snapshot()
        try:
            async with self.pool.acquire(timeout=5) as conn:
                incidents = await dispatch.list_incidents(conn)
                units = await dispatch.list_units(conn)
                orders = await dispatch.list_orders(conn, pending_only=True)
        except store.DB_DOWN:
            return base
        return Snapshot(event_id=base.event_id, event_name=base.event_name, zones=base.zones,
                        gates=base.gates, alerts=base.alerts, incidents=tuple(incidents),
                        units=tuple(units), orders=tuple(orders), grid=base.grid, at=base.at,
                        camera_heat=base.camera_heat)

    def snapshot(self) -> Snapshot:
        """Crowd state and open alerts (no database access)."""
        now = self.clock()
        grid = self.grid.densities(self._fused_people(self.state.occupancy(), now)).to_wire()
        return Snapshot(
            event_id=self.venue.event.id, event_name=self.venue.event.name,
            zones=tuple(self.zone_view(z.id, now) for z in self.venue.zones),
            gates=tuple(self.state.gate_view(g, now) for g in sorted(self.state.gates)),
            alerts=tuple(alert_view(a, self.suggestions) for a in self.book.open_alerts()),
            grid=GridUpdate(**grid, at=now), at=now,
            camera_heat=self.camera_feed.heat(now),
        )


    # ---- crowd sensing (issue 18) -----------------------------------------------------------

    async def ingest_camera(self, reports: Sequence[CameraReport], batch_id: str, rejected: int = 0) -> BatchAck:
        """Store a camera's reports (idempotently), move zones by their line transfers, take
        their estimates into the picture and publish the changed zones."""
        try:
            async with self.pool.acquire(timeout=5) as conn:
                stored = await camera_store.store_reports(conn, reports)
        except store.DB_DOWN as err:
            raise StoreUnavailable(f"database unavailable: {type(err).__name__}") from err
        if stored.new:
            async with self._lock:
                now = self.clock()
                for r in stored.new:
                    self._dirty_zones |= self.cameras.add(r, now)
                    for t in r.transfers:
                        self._dirty_zones |= self.state.apply_transfer(t.zone_from, t.zone_to, t.count, now)
                self._dirty.set()
        return BatchAck(batch_id=batch_id, stored=len(stored.new), duplicates=stored.duplicates,
                        rejected=rejected)

    def take_camera_live(self, msg: CameraLive) -> None:
        """Keep a camera's live grid and thumbnail; push a new grid to the live maps."""
        heat = self.camera_feed.take(msg, self.clock())
        if heat is not None:
            self.hub.publish(encode(heat).decode())

    def zone_view(self, zone_id: str, now: float) -> ZoneView:
        """A zone as the live map shows it: camera density where a fresh one exists."""
        view = self.state.zone_view(zone_id, now, self.forecasts.get(zone_id))
        cam = self.cameras.density(zone_id, now)
        if cam is None:
            return view
        return msgspec.structs.replace(view, density=round(cam.density, 3),
                                       los=crowdsense.fuse(zone_state(self.venue.zone(zone_id), 0), cam).los,
                                       source="cameras", camera_density=round(cam.density, 3),
                                       camera_people=round(cam.density * view.area_m2, 1))

    def _zone_readings(self, occupancy: dict[str, int], now: float) -> dict[str, crowdsense.ZoneReading]:
        return {z.id: crowdsense.ZoneReading(occupancy[z.id], z.area_m2, self.cameras.density(z.id, now))
                for z in self.venue.zones}

    def _fused_people(self, occupancy: dict[str, int], now: float) -> dict[str, int]:
        """Occupancy per zone, with the cameras' density times the area where they see it (the grid)."""
        out = dict(occupancy)
        for z in self.venue.zones:
            cam = self.cameras.density(z.id, now)
            if cam is not None:
                out[z.id] = round(cam.density * z.area_m2)
        return out


def store_json(v: Any) -> Any:
    """jsonb columns arrive as text from asyncpg unless a codec is set."""
    import json

    return json.loads(v) if isinstance(v, str) else (v or {})
