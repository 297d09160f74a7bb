"""Thin async data access for the command server: named functions taking a connection.

Driver errors that mean "the database is not there" become StoreUnavailable here, at the
boundary, so services can decide not to acknowledge. Errors that mean "the database will not
take this value" (REFUSED) are told apart from them: such an event is set aside with its
reason, and the rest of its batch is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from eventguard.config import Venue
from eventguard.presence import Effect, Stay, step
from eventguard.wire import EventKind, GateEvent, RejectedEvent, encode

DB_DOWN = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,  # a connection that broke mid-operation
    OSError,
    ConnectionError,
    TimeoutError,
)

REFUSED = (
    asyncpg.DataError,  # class 22: out of range, NUL in text, bad encoding, ...
    asyncpg.IntegrityConstraintViolationError,  # class 23: a CHECK, NOT NULL, foreign key
    asyncpg.exceptions.ProgramLimitExceededError,  # class 54: e.g. an index row too large
    ValueError,  # asyncpg's client-side DataError (an int out of int32 range) is a ValueError
    OverflowError,  # a time Python cannot represent
)
"""The database (or its driver) will not take a value. Catch before DB_DOWN: asyncpg's
client-side DataError is also an InterfaceError, which DB_DOWN contains."""


def ts(t: float) -> datetime:
    """Unix seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(t, tz=UTC)


async def sync_venue(conn: asyncpg.Connection, venue: Venue) -> None:
    """Upsert zones and gates from the venue file, and their counter rows."""
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO zones (id, name, area_m2, capacity, polygon) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, area_m2 = EXCLUDED.area_m2, "
            "capacity = EXCLUDED.capacity, polygon = EXCLUDED.polygon",
            [(z.id, z.name, z.area_m2, z.capacity, json.dumps(z.polygon)) for z in venue.zones],
        )
        await conn.executemany(
            "INSERT INTO gates (id, name, zone_id, lanes, position) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, zone_id = EXCLUDED.zone_id, "
            "lanes = EXCLUDED.lanes, position = EXCLUDED.position",
            [(g.id, g.name, g.zone, g.lanes, json.dumps(g.position)) for g in venue.gates],
        )
        await conn.executemany("INSERT INTO zone_counters (zone_id) VALUES ($1) ON CONFLICT DO NOTHING",
                               [(z.id,) for z in venue.zones])
        await conn.executemany("INSERT INTO gate_counters (gate_id) VALUES ($1) ON CONFLICT DO NOTHING",
                               [(g.id,) for g in venue.gates])


_INSERT_EVENTS = """
INSERT INTO gate_events (event_id, gate_id, kind, at, lane, ticket_id, verdict, reasons,
                         zone_from, zone_to, latency_ms)
SELECT e.event_id, e.gate_id, e.kind, e.at, e.lane, e.ticket_id, e.verdict,
       string_to_array(e.reasons, ','), e.zone_from, e.zone_to, e.latency_ms
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::real[])
     AS e(event_id, gate_id, kind, at, lane, ticket_id, verdict, reasons, zone_from, zone_to,
          latency_ms)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_BUMP_ZONES = """
UPDATE zone_counters z SET entries = z.entries + d.entries, exits = z.exits + d.exits,
       transfers_in = z.transfers_in + d.tin, transfers_out = z.transfers_out + d.tout
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
     AS d(zone_id, entries, exits, tin, tout)
WHERE z.zone_id = d.zone_id
"""

_BUMP_GATES = """
INSERT INTO gate_counters AS g (gate_id, entries, exits, denies, secondary, last_event_at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::timestamptz[])
ON CONFLICT (gate_id) DO UPDATE SET entries = g.entries + EXCLUDED.entries,
       exits = g.exits + EXCLUDED.exits, denies = g.denies + EXCLUDED.denies,
       secondary = g.secondary + EXCLUDED.secondary,
       last_event_at = GREATEST(g.last_event_at, EXCLUDED.last_event_at)
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """Result of storing a batch: the events that were new (the rest were duplicates, or
    `rejected`: set aside with their reason), what the new entries and exits with a ticket did
    to presence (event id -> effect), and for a counted exit the gate the ticket came in by
    (its zone is the one that empties)."""

    new: tuple[GateEvent, ...]
    duplicates: int
    rejected: int = 0
    effects: dict[str, Effect] = field(default_factory=dict)
    entered_by: dict[str, str] = field(default_factory=dict)

    def zone_gate(self, e: GateEvent) -> str | None:
        """The gate whose zone this entry/exit moves; None when it moves no zone.

        Anonymous events (no ticket) move their own gate's zone; with a ticket, an ENTERED entry
        fills its gate's zone and a LEFT exit empties the zone the ticket entered (presence
        attributes each person to one zone; anonymous transfers from counting lines move them
        on); conflicts, stray and stale events move nothing."""
        eff = self.effects.get(e.event_id)
        if eff is None or eff is Effect.ENTERED:
            return e.gate_id
        if eff is Effect.LEFT:
            return self.entered_by.get(e.event_id, e.gate_id)
        return None

    @property
    def conflicts(self) -> tuple[GateEvent, ...]:
        """New entries of tickets that were already inside."""
        return tuple(e for e in self.new if self.effects.get(e.event_id) is Effect.CONFLICT)


_LOCK_PRESENCE = """
INSERT INTO presence (event_id, ticket_id)
SELECT $1, t FROM unnest($2::text[]) AS t ORDER BY t
ON CONFLICT DO NOTHING
"""

_READ_PRESENCE = """
SELECT ticket_id, inside, gate_id, at FROM presence
WHERE event_id = $1 AND ticket_id = ANY($2::text[]) ORDER BY ticket_id FOR UPDATE
"""

_WRITE_PRESENCE = """
UPDATE presence p SET inside = d.inside, gate_id = d.gate_id, at = d.at,
       conflicts = p.conflicts + d.conflicts
FROM unnest($2::text[], $3::boolean[], $4::text[], $5::timestamptz[], $6::int[])
     AS d(ticket_id, inside, gate_id, at, conflicts)
WHERE p.event_id = $1 AND p.ticket_id = d.ticket_id
  AND (p.inside IS DISTINCT FROM d.inside OR p.at IS DISTINCT FROM d.at OR d.conflicts > 0)
"""


async def apply_presence(conn: asyncpg.Connection, event_id: str, events: Sequence[GateEvent]
                         ) -> tuple[dict[str, Effect], dict[str, str]]:
    """Apply new admitted entries/exits with a ticket to presence (eventguard.presence.step),
    in the caller's transaction; (event id -> effect, exit event id -> gate of the entry)."""
    movers = [e for e in events if e.ticket_id and e.kind in (EventKind.ENTRY, EventKind.EXIT)]
    if not movers:
        return {}, {}
    tickets = sorted({e.ticket_id for e in movers if e.ticket_id})
    await conn.execute(_LOCK_PRESENCE, event_id, tickets)
    book: dict[str, Stay | None] = {
        r["ticket_id"]: Stay(r["inside"], r["gate_id"], r["at"].timestamp()) if r["inside"] is not None
        else None for r in await conn.fetch(_READ_PRESENCE, event_id, tickets)}
    effects: dict[str, Effect] = {}
    entered_by: dict[str, str] = {}
    conflicts: dict[str, int] = {}
    for e in movers:
        assert e.ticket_id is not None
        before = book.get(e.ticket_id)
        effect, after = step(before, e.kind, e.gate_id, e.at)
        effects[e.event_id] = effect
        if effect is Effect.LEFT and before is not None:
            entered_by[e.event_id] = before.gate_id
        book[e.ticket_id] = after
        if effect is Effect.CONFLICT:
            conflicts[e.ticket_id] = conflicts.get(e.ticket_id, 0) + 1
    changed = [(t, s) for t, s in book.items() if s is not None]
    if changed:
        await conn.execute(_WRITE_PRESENCE, event_id, [t for t, _ in changed],
                           [s.inside for _, s in changed], [s.gate_id for _, s in changed],
                           [ts(s.at) for _, s in changed], [conflicts.get(t, 0) for t, _ in changed])
    return effects, entered_by


async def reset_presence(conn: asyncpg.Connection, event_id: str, now: float) -> int:
    """Everyone out (end of event): tickets inside become outside at `now` (synced to gates) and
    the zone counters restart at 0; the number of tickets counted out. Caller's transaction."""
    status: str = await conn.execute(
        "UPDATE presence SET inside = false, gate_id = 'reset', at = $2 WHERE event_id = $1 AND inside",
        event_id, ts(now))
    await conn.execute("UPDATE zone_counters SET entries = 0, exits = 0, transfers_in = 0, transfers_out = 0")
    return int(status.split()[-1])


def _zone_deltas(stored: Stored, gate_zone: dict[str, str]) -> dict[str, list[int]]:
    """Zone counter deltas of new events (entries/exits by Stored.zone_gate, transfers as they are)."""
    d: dict[str, list[int]] = {}
    for e in stored.new:
        if e.kind in (EventKind.ENTRY, EventKind.EXIT):
            zone = gate_zone.get(stored.zone_gate(e) or "")
            if zone is not None:
                d.setdefault(zone, [0, 0, 0, 0])[0 if e.kind is EventKind.ENTRY else 1] += 1
        elif e.kind is EventKind.TRANSFER and e.zone_from and e.zone_to:
            d.setdefault(e.zone_to, [0, 0, 0, 0])[2] += 1
            d.setdefault(e.zone_from, [0, 0, 0, 0])[3] += 1
    return d


def _gate_deltas(events: Sequence[GateEvent]) -> dict[str, list[Any]]:
    d: dict[str, list[Any]] = {}
    col = {EventKind.ENTRY: 0, EventKind.EXIT: 1, EventKind.DENY: 2, EventKind.SECONDARY: 3}
    for e in events:
        if e.kind not in col:
            continue
        row = d.setdefault(e.gate_id, [0, 0, 0, 0, e.at])
        row[col[e.kind]] += 1
        row[4] = max(row[4], e.at)
    return d


async def _insert_events(conn: asyncpg.Connection, events: Sequence[GateEvent]) -> set[str]:
    """Insert in a savepoint (a refused value leaves the enclosing transaction usable); the
    ids that were new."""
    cols: list[list[Any]] = [[] for _ in range(11)]
    async with conn.transaction():
        for e in events:
            for i, v in enumerate((e.event_id, e.gate_id, e.kind.value, ts(e.at), e.lane, e.ticket_id,
                                   e.verdict, ",".join(e.reasons), e.zone_from, e.zone_to,
                                   e.latency_ms)):
                cols[i].append(v)
        rows = await conn.fetch(_INSERT_EVENTS, *cols)
    return {r["event_id"] for r in rows}


def _refusal(err: Exception) -> str:
    return f"refused by the database: {type(err).__name__}: {err}"


async def store_events(conn: asyncpg.Connection, events: Sequence[GateEvent],
                       gate_zone: dict[str, str], event_id: str = "", *, gate_id: str = "",
                       batch_id: str = "", rejected: Sequence[RejectedEvent] = ()) -> Stored:
    """Insert events idempotently, apply the new ones to presence (eventguard.presence) and bump
    counters, in one transaction. Zone counters move only with counted presence effects; gate
    counters count every decision (throughput).

    Events the database refuses (REFUSED) are found by inserting one at a time and are set
    aside in rejected_events with the reason, together with `rejected` (events the decoder
    refused already); the others are stored all the same."""
    aside = list(rejected)
    async with conn.transaction():
        new_ids: set[str] = set()
        refused: set[str] = set()
        if events:
            try:
                new_ids = await _insert_events(conn, events)
            except REFUSED:
                for i, e in enumerate(events):
                    try:
                        new_ids |= await _insert_events(conn, [e])
                    except REFUSED as err:
                        refused.add(e.event_id)
                        aside.append(RejectedEvent(i, e.event_id, None, _refusal(err), encode(e)))
        # a batch may carry the same event twice: count it once
        first = {e.event_id: e for e in reversed(events) if e.event_id in new_ids}
        new = tuple(first[i] for i in dict.fromkeys(e.event_id for e in events) if i in first)
        effects, entered_by = await apply_presence(conn, event_id, new)
        await audit_steward_decisions(conn, new)
        n_refused = sum(1 for e in events if e.event_id in refused)
        stored = Stored(new, len(events) - len(new) - n_refused, len(aside), effects, entered_by)
        zd = _zone_deltas(stored, gate_zone)
        if zd:
            await conn.execute(_BUMP_ZONES, list(zd), *[[v[i] for v in zd.values()] for i in range(4)])
        gd = _gate_deltas(new)
        if gd:
            await conn.execute(_BUMP_GATES, list(gd), *[[v[i] for v in gd.values()] for i in range(4)],
                               [ts(v[4]) for v in gd.values()])
        if aside:
            await set_aside(conn, gate_id, batch_id, aside)
    return stored


async def audit_steward_decisions(conn: asyncpg.Connection, events: Sequence[GateEvent]) -> None:
    """An audit row per new steward decision on a secondary check (gate/checks.py), in the
    transaction that stores the event: a resent event is not new, so it is audited once."""
    rows = [(e.steward.steward, "steward", f"steward_{e.steward.action.value}", e.ticket_id or e.steward.check_id,
             json.dumps({"gate_id": e.gate_id, "lane": e.lane, "event_id": e.event_id, "check_id": e.steward.check_id,
                         "code": e.steward.code.value, "note": e.steward.note, "kind": e.kind.value,
                         "reasons": list(e.reasons), "at": e.at}))
            for e in events if e.steward is not None]
    if rows:
        await conn.executemany(
            "INSERT INTO audit_log (actor, role, action, subject, details) VALUES ($1, $2, $3, $4, $5)", rows)


def _printable(text: str, limit: int = 2000) -> str:
    """A reason fit for a text column and a log line: no NUL or control characters, capped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])


async def set_aside(conn: asyncpg.Connection, gate_id: str, batch_id: str,
                    rejected: Sequence[RejectedEvent]) -> None:
    """Keep events that cannot be stored, with their reason (once per gate and payload)."""
    await conn.executemany(
        "INSERT INTO rejected_events (gate_id, batch_id, event_id, field, reason, payload, digest)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (gate_id, digest) DO NOTHING",
        [(gate_id, _printable(batch_id, 128), _printable(r.event_id, 128) if r.event_id else None,
          _printable(r.field, 128) if r.field else None, _printable(r.reason), r.raw,
          hashlib.sha256(r.raw).digest()) for r in rejected])


async def zone_counters(conn: asyncpg.Connection) -> dict[str, tuple[int, int, int, int]]:
    """zone_id -> (entries, exits, transfers_in, transfers_out)."""
    rows = await conn.fetch("SELECT zone_id, entries, exits, transfers_in, transfers_out FROM zone_counters")
    return {r["zone_id"]: (r["entries"], r["exits"], r["transfers_in"], r["transfers_out"]) for r in rows}


async def gate_counters(conn: asyncpg.Connection) -> dict[str, tuple[int, int, int, int, float | None]]:
    """gate_id -> (entries, exits, denies, secondary, last_event_at)."""
    rows = await conn.fetch("SELECT gate_id, entries, exits, denies, secondary, last_event_at FROM gate_counters")
    return {r["gate_id"]: (r["entries"], r["exits"], r["denies"], r["secondary"],
                           r["last_event_at"].timestamp() if r["last_event_at"] else None) for r in rows}


async def count_events(conn: asyncpg.Connection, gate_id: str | None = None) -> int:
    """Number of stored gate events (of one gate, or all)."""
    if gate_id is None:
        n: int = await conn.fetchval("SELECT count(*) FROM gate_events")
    else:
        n = await conn.fetchval("SELECT count(*) FROM gate_events WHERE gate_id = $1", gate_id)
    return n


async def audit(conn: asyncpg.Connection, actor: str, role: str, action: str,
                subject: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one row to the audit log."""
    await conn.execute(
        "INSERT INTO audit_log (actor, role, action, subject, details) VALUES ($1, $2, $3, $4, $5)",
        actor, role, action, subject, json.dumps(details or {}),
    )


# ---- alerts -----------------------------------------------------------------------------

_UPSERT_ALERT = """
INSERT INTO alerts (id, kind, level, subject, status, raised_at, updated_at, value, details,
                    acknowledged_by, acknowledged_at, resolved_by, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, level = EXCLUDED.level,
    status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, value = EXCLUDED.value,
    details = EXCLUDED.details, acknowledged_by = EXCLUDED.acknowledged_by,
    acknowledged_at = EXCLUDED.acknowledged_at, resolved_by = EXCLUDED.resolved_by,
    resolved_at = EXCLUDED.resolved_at
"""


def _opt_ts(t: float | None) -> datetime | None:
    return ts(t) if t is not None else None


async def save_alerts(conn: asyncpg.Connection, alerts: Sequence[Any]) -> None:
    """Upsert alerts (command.alerts.Alert records) by id."""
    if not alerts:
        return
    await conn.executemany(_UPSERT_ALERT, [
        (a.id, a.kind.value, a.level.value, a.subject, a.status.value, ts(a.raised_at), ts(a.updated_at),
         a.value, json.dumps(a.details, default=str), a.acknowledged_by, _opt_ts(a.acknowledged_at),
         a.resolved_by, _opt_ts(a.resolved_at)) for a in alerts])


async def max_alert_id(conn: asyncpg.Connection) -> int:
    """Highest alert id stored (0 when none)."""
    n: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM alerts")
    return n


async def open_alert_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Alerts not yet resolved."""
    rows: list[asyncpg.Record] = await conn.fetch("SELECT * FROM alerts WHERE status <> 'resolved' ORDER BY id")
    return rows
