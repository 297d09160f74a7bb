"""Gates cut off from the command server keep sharing presence over their peer links; gates cut
off from everything admit alone, and on reconnect the server stores both admissions, raises
one passback_conflict and counts the person once. Links are cut with the loopback partition
proxy; the gates are real gate apps (GateService + /ws/peer) and the server is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from support import Server, ticket_png, wait_for

from command import issuing
from command.db.embedded import free_port
from gate.app import TerminalConfig, create_gate_app
from gate.service import GateCache, GateConfig, GateService
from shell.partition import PartitionProxy
from vision.image import read_file


@dataclass
class Lane:
    """One gate: its service, its app, the proxy of its uplink and the proxy peers reach it by."""

    service: GateService
    runner: web.AppRunner
    uplink: PartitionProxy
    inbound: PartitionProxy


@pytest.fixture
async def lanes(server: Server, tmp_path: Path) -> AsyncIterator[dict[str, Lane]]:
    port = int(server.url.rsplit(":", 1)[1])
    conn = await asyncpg.connect(server.db_url)
    try:
        keys = await issuing.public_keys(conn, server.venue.event.id)
    finally:
        await conn.close()
    app_ports = {g: free_port() for g in ("N1", "N2")}
    inbound = {g: PartitionProxy("127.0.0.1", p) for g, p in app_ports.items()}
    for proxy in inbound.values():
        await proxy.start()
    out: dict[str, Lane] = {}
    for g in ("N1", "N2"):
        uplink = PartitionProxy("127.0.0.1", port)
        await uplink.start()
        peers = {o: f"ws://127.0.0.1:{inbound[o].port}/ws/peer" for o in app_ports if o != g}
        svc = GateService(GateConfig(gate_id=g, event_id=server.venue.event.id,
                                     server_url=f"ws://127.0.0.1:{uplink.port}/ws/gate",
                                     token=server.gate_tokens[g], journal_path=tmp_path / g / "journal.sqlite",
                                     face_required=False, workers=2, peers=peers),
                          GateCache(keys=dict(keys)))
        runner = web.AppRunner(create_gate_app(svc, TerminalConfig(token="terminal-" + "x" * 20)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", app_ports[g]).start()
        out[g] = Lane(svc, runner, uplink, inbound[g])
    try:
        yield out
    finally:
        for lane in out.values():
            await lane.runner.cleanup()
            await lane.uplink.close()
            await lane.inbound.close()


@pytest.mark.waits
async def test_peers_share_presence_while_cut_off_and_the_server_settles_conflicts(
        server: Server, lanes: dict[str, Lane], tmp_path: Path) -> None:
    n1, n2 = lanes["N1"].service, lanes["N2"].service
    await wait_for(lambda: all(ln.service.peers.connected.get(o) for ln in lanes.values()
                               for o in ln.service.cfg.peers), within=20)
    # 1. both gates lose the command server; their peer links stay up
    for lane in lanes.values():
        lane.uplink.cut()
    await wait_for(lambda: not n1.uplink.connected.is_set() and not n2.uplink.connected.is_set(), within=30)
    shared_id, shared_png = await ticket_png(server, tmp_path, None)
    first = await n1.scan(read_file(shared_png))
    assert first.decision.verdict == "admit"
    await wait_for(lambda: shared_id in n2.cache.presence, within=5)  # told by its peer, not the server
    again = await n2.scan(read_file(shared_png))
    assert again.decision.verdict == "deny" and "already_inside" in again.event.reasons
    assert again.inside_since is not None and again.inside_since.gate_id == "N1"

    # 2. now the gates cannot reach each other either: each admits the same ticket alone
    for lane in lanes.values():
        lane.inbound.cut()
    await wait_for(lambda: not any(n1.peers.connected.values()) and not any(n2.peers.connected.values()),
                   within=30)
    twice_id, twice_png = await ticket_png(server, tmp_path, None)
    assert (await n1.scan(read_file(twice_png))).decision.verdict == "admit"
    assert (await n2.scan(read_file(twice_png))).decision.verdict == "admit"

    # 3. everything heals: both admissions are stored, one conflict alert, the person counts once
    for lane in lanes.values():
        lane.inbound.restore()
        lane.uplink.restore()
    await wait_for(lambda: n1.journal.pending() == 0 and n2.journal.pending() == 0, within=60)
    conn = await asyncpg.connect(server.db_url)
    try:
        entries = await conn.fetch("SELECT gate_id FROM gate_events WHERE ticket_id = $1 AND kind = 'entry'"
                                   " ORDER BY gate_id", twice_id)
        assert [r["gate_id"] for r in entries] == ["N1", "N2"]
        await wait_for_alert(conn, twice_id)
        north = await conn.fetchval("SELECT entries - exits FROM zone_counters WHERE zone_id = 'north'")
        assert north == 2  # the shared ticket once, the twice-admitted ticket once
        assert await conn.fetchval("SELECT count(*) FROM presence WHERE inside") == 2
    finally:
        await conn.close()


async def wait_for_alert(conn: asyncpg.Connection, ticket_id: str, within: float = 10.0) -> None:
    """One passback_conflict alert for the ticket."""
    for _ in range(int(within / 0.2)):
        rows = await conn.fetch("SELECT * FROM alerts WHERE kind = 'passback_conflict' AND subject = $1",
                                ticket_id)
        if rows:
            assert len(rows) == 1
            return
        await asyncio.sleep(0.2)
    raise AssertionError("no passback_conflict alert")
