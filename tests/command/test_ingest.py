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
                          ('{"type": "events", "batch_id": 7, "events": []}', "bad_message"),
                          (json.dumps({"type": "events", "batch_id": "x", "events": [
                              {"event_id": "e", "gate_id": "N2", "kind": "teleport", "at": 1.0}]}),
                           "bad_message")]:
            await ws.send(bad)
            err = await reply(ws)
            assert isinstance(err, ErrorMsg) and err.code == code, (bad, err)
        # events claiming another gate are refused: a gate token is scoped to its gate
        await ws.send(encode(EventBatch(batch_id="x", events=tuple(entries("S1", 1)))).decode())
        err = await reply(ws)
        assert isinstance(err, ErrorMsg) and err.code == "wrong_gate"
        await ws.send(encode(EventBatch(batch_id="ok", events=tuple(entries("N2", 3)))).decode())
        assert await reply(ws) == BatchAck(batch_id="ok", stored=3, duplicates=0)
    finally:
        await ws.close()
    assert await count(server.db_url, "SELECT count(*) FROM gate_events WHERE gate_id = 'S1'") == 0


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
