"""Faults with real processes on loopback: the command server killed -9, PostgreSQL stopped
for 30 s during ingest, a gate partitioned from the server for 5 minutes, a live client that
stops reading. After each, every event a gate recorded is stored exactly once, the server's
counters equal the gates' own, and alerts are consistent."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server, wait_for

from command.alerts import AlertConfig, AlertKind
from command.appkeys import HUB
from command.provision import DEMO_USERS
from eventguard.config import Venue
from eventguard.settings import DEFAULT_VENUE
from eventguard.wire import Snapshot, decode_server_message
from shell.soak import SoakStack


async def _open_alert_duplicates(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM (SELECT kind, subject FROM alerts WHERE status <> 'resolved'"
            " GROUP BY kind, subject HAVING count(*) > 1) d")
        return n
    finally:
        await conn.close()


async def _gate_alerts(dsn: str, kind: AlertKind = AlertKind.GATE_SILENT) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT id, subject, level, status, resolved_by FROM alerts"
                                " WHERE kind = $1 ORDER BY id", kind.value)
    finally:
        await conn.close()


async def _gates_online(http: aiohttp.ClientSession, stack: SoakStack) -> dict[str, bool]:
    """gate id -> online, as the command server shows it to the live map."""
    url = f"http://127.0.0.1:{stack.port}/api"
    async with http.post(f"{url}/login", json={"username": "viewer",
                                               "password": DEMO_USERS["viewer"][0]}) as r:
        token = (await r.json())["token"]
    async with http.get(f"{url}/snapshot", headers={"Authorization": f"Bearer {token}"}) as r:
        return {g["id"]: g["online"] for g in (await r.json())["gates"]}


@pytest.fixture
async def stack(venue: Venue) -> SoakStack:
    s = SoakStack(venue, venue_path=DEFAULT_VENUE)
    await s.start_all(tickets_per_gate=15)
    yield s  # type: ignore[misc]
    await s.stop()


async def test_command_server_killed_and_restarted(stack: SoakStack) -> None:
    rng = random.Random(3)
    scanner = asyncio.create_task(stack.scan_loop(12, 12, rng))
    await asyncio.sleep(4)
    await stack.restart_server(down_s=3)  # kill -9 in the middle of ingest
    await scanner
    assert await stack.drain(60)
    v = await stack.verify()
    assert v.recorded > 50 and v.ok, v
    assert await _open_alert_duplicates(stack.dsn) == 0


@pytest.mark.waits
async def test_postgres_stopped_for_30_seconds_during_ingest(stack: SoakStack) -> None:
    rng = random.Random(4)
    scanner = asyncio.create_task(stack.scan_loop(40, 10, rng))
    await asyncio.sleep(4)
    await stack.stop_database("fast")
    await asyncio.sleep(30)
    pending_while_down = sum(g.journal.pending() for g in stack.gates)
    await stack.start_database()
    await scanner
    assert pending_while_down > 20  # gates kept deciding and journaling while the database was gone
    assert await stack.drain(90)
    v = await stack.verify()
    assert v.recorded > 200 and v.ok, v
    assert await _open_alert_duplicates(stack.dsn) == 0


OUTAGE_S = 300.0
SERVER_ALERTS = AlertConfig()  # the spawned command server runs with the default alert config


@pytest.mark.waits
@pytest.mark.timeout(OUTAGE_S + 180)
async def test_gate_offline_for_five_minutes_and_back(stack: SoakStack) -> None:
    rng = random.Random(5)
    gate = stack.gates[-1]
    gate_id = gate.cfg.gate_id
    others = [g for g in stack.gates if g is not gate]
    link = stack.links[gate_id]
    async with aiohttp.ClientSession() as http:
        await wait_for(lambda: all(g.uplink.connected.is_set() for g in stack.gates))
        scanner = asyncio.create_task(stack.scan_loop(OUTAGE_S + 35, 3, rng))
        await asyncio.sleep(3)
        link.cut()  # a blackhole: bytes dropped, new connections hang; both ends time out alone
        await asyncio.sleep(OUTAGE_S)

        # still cut: the gate decided and journaled on its own; the other gates kept streaming
        assert gate.journal.pending() > 150
        assert max(g.journal.pending() for g in others) < 20
        assert not gate.uplink.connected.is_set()
        online = await _gates_online(http, stack)
        assert online == {g.cfg.gate_id: g is not gate for g in stack.gates}, online
        for kind in (AlertKind.GATE_SILENT, AlertKind.GATE_OFFLINE):  # offline after 30 s, silent after 120 s
            raised = await _gate_alerts(stack.dsn, kind)
            assert [(a["subject"], a["level"], a["status"]) for a in raised] == [(gate_id, "warning", "raised")]

        link.restore()
        await wait_for(gate.uplink.connected.is_set, within=30)
        # once its replayed events are in, the alert clears after clear_after_s of fresh ones
        async def cleared() -> bool:
            raised = [*await _gate_alerts(stack.dsn, AlertKind.GATE_SILENT),
                      *await _gate_alerts(stack.dsn, AlertKind.GATE_OFFLINE)]
            return all(a["status"] == "resolved" for a in raised)
        await wait_for(cleared, within=SERVER_ALERTS.clear_after_s + 30, interval=1)
        await scanner
        assert await stack.drain(60)
        assert all((await _gates_online(http, stack)).values())
    v = await stack.verify()
    assert v.recorded > 600 and v.ok, v
    for kind in (AlertKind.GATE_SILENT, AlertKind.GATE_OFFLINE):  # one each, this gate's, cleared by the server
        raised = await _gate_alerts(stack.dsn, kind)
        assert [(a["subject"], a["status"], a["resolved_by"]) for a in raised] == [(gate_id, "resolved", "auto")]
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
