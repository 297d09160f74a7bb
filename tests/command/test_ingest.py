"""/ws/gate ingest against a real server and PostgreSQL: acks, de-duplication, bad input,
scoping, and a database restart in the middle of a stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
import websockets
from support import Server

from command.db.embedded import EmbeddedPostgres
from eventguard.wire import (
    BatchAck,
    ErrorMsg,
    EventBatch,
    EventKind,
    GateEvent,
    Welcome,
    decode_server_message,
    encode,
)


def entries(gate: str, n: int, prefix: str | None = None) -> list[GateEvent]:
    p = prefix or uuid.uuid4().hex[:8]
    return [GateEvent(event_id=f"{gate}:{p}-{i}", gate_id=gate, kind=EventKind.ENTRY, at=time.time(),
                      ticket_id=f"t-{p}-{i}", verdict="admit") for i in range(n)]


async def gate_socket(server: Server, gate: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"{server.ws_url}/ws/gate",
                                  additional_headers={"Authorization": f"Bearer {server.gate_tokens[gate]}"})
    assert isinstance(decode_server_message(await ws.recv()), Welcome)
    return ws


async def reply(ws: websockets.ClientConnection) -> object:
    while True:
        msg = decode_server_message(await asyncio.wait_for(ws.recv(), 30))
        if isinstance(msg, BatchAck | ErrorMsg):
            return msg


async def count(db_url: str, sql: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        n: int = await conn.fetchval(sql)
        return n
    finally:
        await conn.close()


async def test_batches_are_acked_once_stored_and_duplicates_not_recounted(server: Server) -> None:
    ws = await gate_socket(server, "N1")
    try:
        batch = EventBatch(batch_id="b1", events=tuple(entries("N1", 50)))
        await ws.send(encode(batch).decode())
        ack = await reply(ws)
        assert ack == BatchAck(batch_id="b1", stored=50, duplicates=0)
        # the same events again (a resend after a lost ack), plus 10 new, one repeated in-batch
        more = entries("N1", 10)
        again = EventBatch(batch_id="b2", events=(*batch.events, *more, more[0]))
        await ws.send(encode(again).decode())
        assert await reply(ws) == BatchAck(batch_id="b2", stored=10, duplicates=51)
    finally:
        await ws.close()
    assert await count(server.db_url, "SELECT count(*) FROM gate_events") == 60
    assert await count(server.db_url, "SELECT entries FROM zone_counters WHERE zone_id = 'north'") == 60
    assert await count(server.db_url, "SELECT entries FROM gate_counters WHERE gate_id = 'N1'") == 60


async def test_bad_messages_get_errors_and_the_connection_survives(server: Server) -> None:
    ws = await gate_socket(server, "N2")
    try:
        for bad, code in [("{not json", "bad_message"), ('{"type": "launch_missiles"}', "bad_message"),
                          ('{"type": "events", "batch_id": 7, "events": []}', "bad_message")]:
            await ws.send(bad)
            err = await reply(ws)
            assert isinstance(err, ErrorMsg) and err.code == code, (bad, err)
        # an event of unknown kind no longer refuses its whole batch (the gate would resend it
        # forever): it is set aside, and the batch acknowledged
        await ws.send(json.dumps({"type": "events", "batch_id": "x", "events": [
            {"event_id": "e", "gate_id": "N2", "kind": "teleport", "at": 1.0}]}))
        assert await reply(ws) == BatchAck(batch_id="x", stored=0, duplicates=0, rejected=1)
        # events claiming another gate are not stored: a gate token is scoped to its gate (they
        # are set aside, so the gate's own events in the batch still go through)
        await ws.send(encode(EventBatch(batch_id="x2", events=(*entries("S1", 1), *entries("N2", 1)))).decode())
        assert await reply(ws) == BatchAck(batch_id="x2", stored=1, duplicates=0, rejected=1)
        await ws.send(encode(EventBatch(batch_id="ok", events=tuple(entries("N2", 3)))).decode())
        assert await reply(ws) == BatchAck(batch_id="ok", stored=3, duplicates=0)
    finally:
        await ws.close()
    assert await count(server.db_url, "SELECT count(*) FROM gate_events WHERE gate_id = 'S1'") == 0
    assert await count(server.db_url, "SELECT count(*) FROM rejected_events WHERE field = 'gate_id'") == 1


async def test_a_gate_reports_transfers_only_at_its_own_zones_connections(server: Server) -> None:
    """The probe's finding: a gate was trusted for transfers between zones it does not serve, so
    one gate could empty or fill any zone. N1 serves `north` (linked to `bowl`): north <-> bowl is
    taken; south -> bowl (S1's zone), north -> south (not linked) and an unknown zone are set
    aside naming the reason, and only the counters of the taken one move."""
    def transfer(i: int, a: str, b: str) -> GateEvent:
        return GateEvent(event_id=f"N1:tr-{uuid.uuid4().hex[:6]}-{i}", gate_id="N1", kind=EventKind.TRANSFER,
                         at=time.time(), zone_from=a, zone_to=b)
    before = await count(server.db_url, "SELECT transfers_in FROM zone_counters WHERE zone_id = 'bowl'")
    ws = await gate_socket(server, "N1")
    try:
        batch = (transfer(0, "north", "bowl"), transfer(1, "south", "bowl"), transfer(2, "north", "south"),
                 transfer(3, "north", "moon"), transfer(4, "bowl", "north"))
        await ws.send(encode(EventBatch(batch_id="tr", events=batch)).decode())
        assert await reply(ws) == BatchAck(batch_id="tr", stored=2, duplicates=0, rejected=3)
    finally:
        await ws.close()
    assert await count(server.db_url, "SELECT transfers_in FROM zone_counters WHERE zone_id = 'bowl'") == before + 1
    conn = await asyncpg.connect(server.db_url)
    try:
        aside = {r["event_id"]: r["reason"] for r in await conn.fetch(
            "SELECT event_id, reason FROM rejected_events WHERE field = 'zone_from'")}
    finally:
        await conn.close()
    assert aside[batch[1].event_id] == "gate N1 serves zone north, not south or bowl"
    assert aside[batch[2].event_id] == "zones north and south are not connected"
    assert aside[batch[3].event_id] == "unknown zone 'moon'"


async def test_oversized_message_closes_only_that_socket(server: Server) -> None:
    ws = await gate_socket(server, "N1")
    await ws.send("x" * (2 << 20))
    closed = False
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as err:
        closed = True
        assert err.rcvd is not None and err.rcvd.code == 1009  # message too big
    assert closed
    ws2 = await gate_socket(server, "N1")
    await ws2.send(encode(EventBatch(batch_id="after", events=tuple(entries("N1", 1)))).decode())
    assert isinstance(await reply(ws2), BatchAck)
    await ws2.close()


async def test_database_restart_mid_ingest_loses_no_acknowledged_event(server: Server,
                                                                       pg: EmbeddedPostgres) -> None:
    acked: set[str] = set()
    sent = 0
    ws = await gate_socket(server, "S1")
    try:
        for i in range(40):
            if i == 15:
                pg.stop("fast")  # PostgreSQL goes away mid-stream
            if i == 25:
                pg.start()
            batch = EventBatch(batch_id=f"r{i}", events=tuple(entries("S1", 20, prefix=f"r{i}")))
            await ws.send(encode(batch).decode())
            sent += 1
            r = await reply(ws)
            if isinstance(r, BatchAck):
                acked.update(e.event_id for e in batch.events)
            else:
                assert isinstance(r, ErrorMsg) and r.code == "store_unavailable"
        assert 0 < len(acked) < 40 * 20  # some batches were refused while it was down
        # the gate resends what was not acked; everything ends up stored exactly once
        for i in range(40):
            batch = EventBatch(batch_id=f"again{i}", events=tuple(entries("S1", 20, prefix=f"r{i}")))
            await ws.send(encode(batch).decode())
            r = await reply(ws)
            assert isinstance(r, BatchAck), r
    finally:
        await ws.close()
        if not pg.running():
            pg.start()
    conn = await asyncpg.connect(server.db_url)
    try:
        stored = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM gate_events WHERE gate_id = 'S1'")}
        counted = await conn.fetchval("SELECT entries FROM gate_counters WHERE gate_id = 'S1'")
    finally:
        await conn.close()
    assert acked <= stored
    assert len(stored) == 800 and counted == 800


def _raw_event(gate: str, event_id: str, **values: object) -> dict[str, object]:
    return {"event_id": event_id, "gate_id": gate, "kind": "entry", "at": time.time(), "verdict": "admit",
            **values}


async def test_hostile_events_are_set_aside_and_the_rest_of_the_batch_is_stored(server: Server) -> None:
    """The probe's poison values (lane 3e9, at 1e300, latency 1e40, NUL in an id) in one batch
    with good events: the good ones are stored and acknowledged, the bad ones are kept apart
    with the field to blame, the socket stays open and the next batch flows. (It used to drop
    the socket or answer store_unavailable, so the gate resent the batch forever.)"""
    p = uuid.uuid4().hex[:6]
    events = [_raw_event("N1", f"N1:{p}-ok1"),
              _raw_event("N1", f"N1:{p}-lane", lane=3_000_000_000),
              _raw_event("N1", f"N1:{p}-at", at=1e300),
              _raw_event("N1", f"N1:{p}-latency", latency_ms=1e40),
              _raw_event("N1", f"N1:{p}-\u0000nul"),
              _raw_event("N1", f"N1:{p}-ok2")]
    raw = json.dumps({"type": "events", "batch_id": f"poison-{p}", "events": events})
    ws = await gate_socket(server, "N1")
    try:
        await ws.send(raw)
        assert await reply(ws) == BatchAck(batch_id=f"poison-{p}", stored=2, duplicates=0, rejected=4)
        await ws.send(raw)  # the gate resends after a lost ack: nothing is added twice
        assert await reply(ws) == BatchAck(batch_id=f"poison-{p}", stored=0, duplicates=2, rejected=4)
        after = EventBatch(batch_id="after", events=tuple(entries("N1", 3)))
        await ws.send(encode(after).decode())
        assert await reply(ws) == BatchAck(batch_id="after", stored=3, duplicates=0)
    finally:
        await ws.close()
    conn = await asyncpg.connect(server.db_url)
    try:
        stored = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM gate_events")}
        aside = await conn.fetch("SELECT gate_id, batch_id, event_id, field, reason, payload"
                                 " FROM rejected_events ORDER BY id")
    finally:
        await conn.close()
    assert {f"N1:{p}-ok1", f"N1:{p}-ok2"} <= stored and len(stored) == 5
    assert [(r["gate_id"], r["event_id"], r["field"]) for r in aside] == [
        ("N1", f"N1:{p}-lane", "lane"), ("N1", f"N1:{p}-at", "at"), ("N1", f"N1:{p}-latency", "latency_ms"),
        ("N1", None, "event_id")]
    assert all(r["batch_id"] == f"poison-{p}" and r["reason"] for r in aside)
    assert json.loads(aside[0]["payload"])["lane"] == 3_000_000_000  # kept as the gate sent it


async def test_an_event_the_database_refuses_is_set_aside(server: Server) -> None:
    """Defence in depth: an event that passes the wire checks but that PostgreSQL refuses (here
    a CHECK constraint added for the test) is found, set aside with the database's reason, and
    the other events of its batch are stored and counted."""
    conn = await asyncpg.connect(server.db_url)
    try:
        await conn.execute("ALTER TABLE gate_events ADD CONSTRAINT test_no_poison"
                           " CHECK (ticket_id IS DISTINCT FROM 'poison')")
    finally:
        await conn.close()
    good = entries("N2", 3)
    bad = GateEvent(event_id="N2:poison", gate_id="N2", kind=EventKind.ENTRY, at=time.time(),
                    ticket_id="poison", verdict="admit")
    ws = await gate_socket(server, "N2")
    try:
        await ws.send(encode(EventBatch(batch_id="mixed", events=(good[0], bad, *good[1:]))).decode())
        assert await reply(ws) == BatchAck(batch_id="mixed", stored=3, duplicates=0, rejected=1)
    finally:
        await ws.close()
    assert await count(server.db_url, "SELECT count(*) FROM gate_events WHERE gate_id = 'N2'") == 3
    assert await count(server.db_url, "SELECT entries FROM gate_counters WHERE gate_id = 'N2'") == 3
    conn = await asyncpg.connect(server.db_url)
    try:
        row = await conn.fetchrow("SELECT event_id, reason FROM rejected_events")
    finally:
        await conn.close()
    assert row["event_id"] == "N2:poison" and "CheckViolation" in row["reason"]
