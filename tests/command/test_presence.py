"""Venue-wide presence on a real PostgreSQL and a real command server: one ticket, one person
inside, whatever the gate and whatever the order the events arrive in."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

import asyncpg
import websockets
from support import Server, start_gate, ticket_png, wait_for

from command import store
from eventguard.codes import AlertKind, EventKind
from eventguard.config import Venue
from eventguard.presence import Effect, Stay, step
from eventguard.wire import (
    BatchAck,
    EventBatch,
    GateEvent,
    Snapshot,
    Welcome,
    decode_server_message,
    encode,
)
from vision.image import read_file

GATE_ZONE = {"N1": "north", "N2": "north", "S1": "south"}
EVENT = "demo-2026"


def _ev(ticket: str, kind: EventKind, gate: str, at: float) -> GateEvent:
    return GateEvent(event_id=f"{gate}:{uuid.uuid4().hex}", gate_id=gate, kind=kind, at=at, ticket_id=ticket)


async def test_random_interleavings_match_the_rule_and_count_each_ticket_once(conn: asyncpg.Connection,
                                                                              venue: Venue) -> None:
    """30 random histories of 6 tickets over 3 gates, delivered in shuffled batches (late and
    out of order, as offline gates replay): the stored presence equals the pure rule applied
    in delivery order, each zone's counter equals its counted entries minus counted exits, and
    occupancy equals the tickets inside."""
    await store.sync_venue(conn, venue)
    rng = random.Random(7)
    for round_ in range(30):
        await conn.execute("TRUNCATE presence, gate_events")
        await conn.execute("UPDATE zone_counters SET entries = 0, exits = 0")
        tickets = [f"r{round_}t{i}" for i in range(6)]
        events = [_ev(rng.choice(tickets), rng.choice([EventKind.ENTRY, EventKind.EXIT]),
                      rng.choice(list(GATE_ZONE)), round(1000.0 + rng.uniform(0, 100), 3)) for _ in range(40)]
        rng.shuffle(events)
        book: dict[str, Stay] = {}
        zone = {"north": 0, "south": 0}
        pos = 0
        while pos < len(events):
            batch = events[pos:pos + rng.randint(1, 8)]
            pos += len(batch)
            stored = await store.store_events(conn, batch, GATE_ZONE, EVENT)
            for e in batch:
                assert e.ticket_id is not None
                before = book.get(e.ticket_id)
                effect, after = step(before, e.kind, e.gate_id, e.at)
                assert stored.effects[e.event_id] is effect, (round_, e)
                if after is not None:
                    book[e.ticket_id] = after
                if effect is Effect.ENTERED:
                    zone[GATE_ZONE[e.gate_id]] += 1
                elif effect is Effect.LEFT:  # the zone the ticket came in by empties
                    assert before is not None
                    zone[GATE_ZONE[before.gate_id]] -= 1
        rows = {r["ticket_id"]: Stay(r["inside"], r["gate_id"], r["at"].timestamp())
                for r in await conn.fetch("SELECT * FROM presence WHERE inside IS NOT NULL")}
        assert rows == book
        counters = {r["zone_id"]: r["entries"] - r["exits"]
                    for r in await conn.fetch("SELECT * FROM zone_counters")}
        assert {z: counters[z] for z in zone} == zone
        inside_by_zone = {"north": 0, "south": 0}
        for s in book.values():
            inside_by_zone[GATE_ZONE[s.gate_id]] += s.inside
        assert zone == inside_by_zone  # each zone holds exactly its unique tickets inside


async def _send(server: Server, gate: str, events: list[GateEvent]) -> BatchAck:
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens[gate]}"}) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        await ws.send(encode(EventBatch(batch_id=uuid.uuid4().hex, events=tuple(events))).decode())
        while True:
            m = decode_server_message(await ws.recv())
            if isinstance(m, BatchAck):
                return m


async def test_two_gates_admitting_one_ticket_store_both_count_once_and_alert_once(server: Server) -> None:
    now = time.time()
    await _send(server, "N1", [_ev("tk1", EventKind.ENTRY, "N1", now)])
    ack = await _send(server, "N2", [_ev("tk1", EventKind.ENTRY, "N2", now + 1)])
    assert ack.stored == 1
    await _send(server, "S1", [_ev("tk1", EventKind.ENTRY, "S1", now + 2)])  # a third entry: same alert
    conn = await asyncpg.connect(server.db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM gate_events WHERE ticket_id = 'tk1'") == 3
        row = await conn.fetchrow("SELECT * FROM presence WHERE ticket_id = 'tk1'")
        assert row["inside"] and row["conflicts"] == 2
        alerts = await conn.fetch("SELECT * FROM alerts WHERE kind = $1", AlertKind.PASSBACK_CONFLICT.value)
        assert len(alerts) == 1 and alerts[0]["subject"] == "tk1"
        counters = {r["zone_id"]: r["entries"] - r["exits"] for r in await conn.fetch("SELECT * FROM zone_counters")}
        assert counters["north"] == 1 and counters["south"] == 0
        gates = {r["gate_id"]: r["entries"] for r in await conn.fetch("SELECT * FROM gate_counters")}
        assert gates == {"N1": 1, "N2": 1, "S1": 1}  # throughput still counts every admission
    finally:
        await conn.close()
    token = await server.login("viewer")
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as live:
        snap = decode_server_message(await live.recv())
        assert isinstance(snap, Snapshot)
        assert {z.id: z.occupancy for z in snap.zones} == {"north": 1, "south": 0, "bowl": 0}
        assert [a.kind for a in snap.alerts if a.subject == "tk1"] == [AlertKind.PASSBACK_CONFLICT]


async def test_admitted_at_one_gate_refused_at_another_exit_anywhere_then_reentry(
        server: Server, tmp_path: Path) -> None:
    """Real gate services at N1, N2 and S1 learn presence through the list sync: entry at N1
    admitted, entry at N2 refused (already inside, naming N1), exit at S1 accepted, re-entry at N2
    admitted; occupancy follows."""
    gates = {g: await start_gate(server, g, tmp_path / g) for g in ("N1", "N2", "S1")}
    try:
        ticket_id, png = await ticket_png(server, tmp_path, None)
        frame = read_file(png)
        first = await gates["N1"].scan(frame)
        assert first.decision.verdict == "admit", first.decision.reasons
        await wait_for(lambda: ticket_id in gates["N2"].cache.presence, within=10)
        again = await gates["N2"].scan(frame)
        assert again.decision.verdict == "deny" and "already_inside" in again.event.reasons
        assert again.inside_since is not None and again.inside_since.gate_id == "N1"
        await wait_for(lambda: ticket_id in gates["S1"].cache.presence, within=10)
        out = await gates["S1"].scan(frame, direction="exit")
        assert out.decision.verdict == "admit" and out.event.kind is EventKind.EXIT, out.decision.reasons
        await wait_for(lambda: not gates["N2"].cache.presence[ticket_id].inside, within=10)
        back = await gates["N2"].scan(frame)
        assert back.decision.verdict == "admit", back.decision.reasons
        for g in gates.values():
            await wait_for(lambda g=g: g.journal.pending() == 0, within=10)
        conn = await asyncpg.connect(server.db_url)
        try:
            north = await conn.fetchval("SELECT entries - exits FROM zone_counters WHERE zone_id = 'north'")
            south = await conn.fetchval("SELECT entries - exits FROM zone_counters WHERE zone_id = 'south'")
        finally:
            await conn.close()
        assert (north, south) == (1, 0)  # in at N1, out at S1 (the north entry leaves), in again at N2
    finally:
        await asyncio.gather(*(g.stop() for g in gates.values()))
