"""Evacuation (issue 20): which zones and gates it covers, the two-step confirmation, egress
routes and progress — pure; and the thin store functions over `event_evacuation` (sql/0022).

Gates learn it through the list sync (command/sync_store.py): a gate in an evacuated zone lets
everyone out without a ticket check and refuses every entry (gate/decide.py)."""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from command.walking import zone_graph
from eventguard.config import Venue

CONFIRM_WITHIN_S = 120.0
CHANNEL = "eventguard_evacuation"  # pg_notify on every change of event_evacuation (sql/0025)


def covered_zones(venue: Venue, zones: Sequence[str]) -> tuple[str, ...]:
    """The zones an evacuation covers (none named: every zone of the venue), in venue order."""
    wanted = set(zones) or {z.id for z in venue.zones}
    return tuple(z.id for z in venue.zones if z.id in wanted)


def affected_gates(venue: Venue, zones: Sequence[str]) -> tuple[str, ...]:
    """Gates of the covered zones: they switch to free exit."""
    covered = set(covered_zones(venue, zones))
    return tuple(g.id for g in venue.gates if g.zone in covered)


@dataclass(frozen=True, slots=True)
class Route:
    """The shortest walk from an evacuated zone to a zone with gates out, zone by zone."""

    zone: str
    path: tuple[str, ...]  # zone ids from `zone` to the exit zone
    exit_gates: tuple[str, ...]
    length_m: float


def egress_routes(venue: Venue, zones: Sequence[str]) -> list[Route]:
    """For each covered zone, the nearest zone with gates by walking distance over the venue's
    connections (the zone itself when it has gates); zones with no way out are left out."""
    graph = zone_graph(venue)
    gates_of: dict[str, list[str]] = {}
    for g in venue.gates:
        gates_of.setdefault(g.zone, []).append(g.id)
    out: list[Route] = []
    for start in covered_zones(venue, zones):
        best: dict[str, float] = {start: 0.0}
        prev: dict[str, str] = {}
        heap = [(0.0, start)]
        found: str | None = None
        while heap:
            d, zone = heapq.heappop(heap)
            if d > best.get(zone, float("inf")):
                continue
            if zone in gates_of:
                found = zone
                break
            for nxt, length in sorted(graph.get(zone, ())):
                if d + length < best.get(nxt, float("inf")):
                    best[nxt] = d + length
                    prev[nxt] = zone
                    heapq.heappush(heap, (d + length, nxt))
        if found is None:
            continue
        path = [found]
        while path[-1] != start:
            path.append(prev[path[-1]])
        out.append(Route(start, tuple(reversed(path)), tuple(gates_of[found]), best[found]))
    return out


def progress(start: Mapping[str, int], now: Mapping[str, int]) -> dict[str, float]:
    """Share of each zone's occupants at the declaration who are out now (0..1; 1 when it held
    nobody)."""
    return {z: 1.0 if n <= 0 else round(min(1.0, max(0.0, 1.0 - now.get(z, 0) / n)), 3)
            for z, n in start.items()}


# ---- two-step confirmation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """A prepared declaration waiting for its commander's confirmation."""

    code: str
    by: str
    zones: tuple[str, ...]  # as asked: empty is the whole venue
    note: str
    expires_at: float


@dataclass
class Confirmations:
    """Prepared declarations by code; a code is good once, for the commander who prepared it,
    within CONFIRM_WITHIN_S."""

    pending: dict[str, Pending] = field(default_factory=dict)

    def prepare(self, by: str, zones: tuple[str, ...], note: str, now: float,
                rng: random.Random | None = None) -> Pending:
        """Hold a declaration and return its confirmation code."""
        self.pending = {c: p for c, p in self.pending.items() if p.expires_at > now and p.by != by}
        code = f"{rng.getrandbits(32):08x}" if rng is not None else secrets.token_hex(4)
        p = Pending(code, by, zones, note, now + CONFIRM_WITHIN_S)
        self.pending[code] = p
        return p

    def take(self, code: str, by: str, now: float) -> Pending | None:
        """The declaration `code` confirms (removed), or None: unknown, expired or someone else's."""
        p = self.pending.get(code)
        if p is None or p.by != by or p.expires_at <= now:
            return None
        del self.pending[code]
        return p


# ---- clearance estimate (the model lives in sim/; shell/ passes it in) ---------------------------------


@dataclass(frozen=True, slots=True)
class Clearance:
    """Seconds until each evacuated zone is empty (None: not within the model's horizon)."""

    seconds: Mapping[str, float | None]
    model: str


class ClearanceModel(Protocol):
    """Runs the venue's egress from the occupancy now (blocking; called in a thread)."""

    def __call__(self, occupancy: Mapping[str, int], zones: Sequence[str]) -> Clearance: ...


@dataclass
class EvacuationDesk:
    """The server's evacuation helpers: pending confirmations, the clearance model (None when the
    server runs without one) and its latest answer, reused while the occupancy is unchanged, the
    evacuation row as last read (pushes are made from it) and the state last pushed to live maps."""

    confirms: Confirmations = field(default_factory=Confirmations)
    model: ClearanceModel | None = None
    last: tuple[tuple[tuple[str, int], ...], Clearance] | None = None
    pushing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one state read and push at a time, in order
    pushed: bytes | None = None  # the latest state pushed to live maps
    row: dict[str, Any] | None = None  # the evacuation row (`current`) as last read; None: there is none
    known: bool = False  # `row` was read at least once (nothing is pushed before)

    def cached(self, key: tuple[tuple[str, int], ...]) -> Clearance | None:
        """The answer for this occupancy of the evacuated zones, if it was computed already."""
        return self.last[1] if self.last is not None and self.last[0] == key else None


# ---- store ------------------------------------------------------------------------------------------


async def declare(conn: asyncpg.Connection, event_id: str, zones: Sequence[str], note: str, by: str,
                  start_occupancy: Mapping[str, int]) -> None:
    """Declare (or widen) the evacuation; gates learn it through the list sync."""
    await conn.execute(
        "INSERT INTO event_evacuation (event_id, active, zones, note, declared_by, start_occupancy)"
        " VALUES ($1, true, $2, $3, $4, $5)"
        " ON CONFLICT (event_id) DO UPDATE SET active = true, zones = EXCLUDED.zones, note = EXCLUDED.note,"
        " declared_by = EXCLUDED.declared_by, declared_at = now(), ended_by = NULL, ended_at = NULL,"
        " start_occupancy = EXCLUDED.start_occupancy",
        event_id, list(zones), note, by, json.dumps(dict(start_occupancy)))


async def end(conn: asyncpg.Connection, event_id: str, by: str) -> bool:
    """End the evacuation; False when none is under way."""
    done = await conn.fetchval("UPDATE event_evacuation SET active = false, ended_by = $2, ended_at = now()"
                               " WHERE event_id = $1 AND active RETURNING 1", event_id, by)
    return done is not None


async def current(conn: asyncpg.Connection, event_id: str) -> dict[str, Any] | None:
    """The evacuation row (active or the last one ended), or None."""
    r = await conn.fetchrow("SELECT * FROM event_evacuation WHERE event_id = $1", event_id)
    if r is None:
        return None
    occ = r["start_occupancy"]
    return {"active": r["active"], "zones": list(r["zones"]), "note": r["note"], "declared_by": r["declared_by"],
            "declared_at": r["declared_at"].timestamp(), "ended_by": r["ended_by"],
            "ended_at": r["ended_at"].timestamp() if r["ended_at"] else None,
            "start_occupancy": json.loads(occ) if isinstance(occ, str) else dict(occ)}
