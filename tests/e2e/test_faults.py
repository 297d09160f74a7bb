"""Faults with real processes on loopback: the command server killed -9, PostgreSQL stopped
for 30 s during ingest, a live client that stops reading. After each, every event a gate
recorded is stored exactly once and the server's counters equal the gates' own."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server

from command.keys import HUB
from eventguard.config import Venue
from eventguard.soak import Stack
from eventguard.wire import Snapshot, decode_server_message


async def _open_alert_duplicates(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM (SELECT kind, subject FROM alerts WHERE status <> 'resolved'"
            " GROUP BY kind, subject HAVING count(*) > 1) d")
        return n
    finally:
        await conn.close()


@pytest.fixture
async def stack(venue: Venue) -> Stack:
    s = Stack(venue)
    await s.start(tickets_per_gate=15)
    yield s  # type: ignore[misc]
    await s.stop()


async def test_command_server_killed_and_restarted(stack: Stack) -> None:
    rng = random.Random(3)
    scanner = asyncio.create_task(stack.scan_loop(12, 12, rng))
    await asyncio.sleep(4)
    stack.kill_server()  # kill -9 in the middle of ingest
    await asyncio.sleep(3)
    stack.start_server()
    await scanner
    assert await stack.drain(60)
    v = await stack.verify()
    assert v.recorded > 50 and v.ok, v
    assert await _open_alert_duplicates(stack.dsn) == 0


async def test_postgres_stopped_for_30_seconds_during_ingest(stack: Stack) -> None:
    rng = random.Random(4)
    scanner = asyncio.create_task(stack.scan_loop(40, 10, rng))
    await asyncio.sleep(4)
    stack.pg.stop("fast")
    await asyncio.sleep(30)
    pending_while_down = sum(g.journal.pending() for g in stack.gates)
    stack.pg.start()
    await scanner
    assert pending_while_down > 20  # gates kept deciding and journaling while the database was gone
    assert await stack.drain(90)
    v = await stack.verify()
    assert v.recorded > 200 and v.ok, v
    assert await _open_alert_duplicates(stack.dsn) == 0


async def test_slow_live_client_is_resynced_without_stalling_others(server: Server) -> None:
    token = await server.login("viewer")
    hub = server.app[HUB]
    hub.limit = 8  # small per-client buffer so the test overflows it quickly
    headers = {"Authorization": f"Bearer {token}"}
    # the slow client is aiohttp's: its reader stops reading the socket when its buffer is full
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{server.ws_url}/ws/live", headers=headers, max_msg_size=0) as slow, \
            websockets.connect(f"{server.ws_url}/ws/live", additional_headers=headers, max_size=None) as fast:
        assert isinstance(decode_server_message(await fast.recv()), Snapshot)
        assert isinstance(decode_server_message((await slow.receive()).data), Snapshot)
        # slow never reads again: its socket fills, its queue overflows, it is marked for resync
        payload = json.dumps({"type": "pong", "nonce": "x" * 200_000})
        received = 0
        async def reader() -> None:
            nonlocal received
            while received < 300:
                m = await fast.recv()
                assert not m.startswith('{"type":"snapshot"')  # the reader that keeps up is never resynced
                received += m.startswith('{"type": "pong"')

        reading = asyncio.create_task(reader())
        for _ in range(300):
            hub.publish(payload)
            await asyncio.sleep(0.01)
        async with asyncio.timeout(20):
            await reading
        subs = list(hub.subscribers)
        assert len(subs) == 2
        assert max(s.resyncs for s in subs) >= 1 and min(s.resyncs for s in subs) == 0
        # once it reads again, the slow client gets a fresh snapshot instead of the backlog
        seen_snapshot = False
        async with asyncio.timeout(20):
            while not seen_snapshot:
                seen_snapshot = '"type":"snapshot"' in (await slow.receive()).data[:30]
