"""PNG -> gate -> command server -> live websocket subscriber, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
import websockets
from support import Server, start_gate, ticket_png, wait_for

from eventguard.wire import Snapshot, ZonesUpdate, decode_server_message
from vision.image import read_file


async def test_png_ticket_reaches_live_map_and_database(server: Server, tmp_path: Path) -> None:
    token = await server.login("viewer")
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as live:
        snap = decode_server_message(await live.recv())
        assert isinstance(snap, Snapshot)
        before = {z.id: z.occupancy for z in snap.zones}
        gate = await start_gate(server, "N1", tmp_path)
        try:
            ticket_id, png = await ticket_png(server, tmp_path, "N1")
            result = await gate.scan(read_file(png), lane=1)
            assert result.decision.verdict == "admit", result.decision.reasons
            # the live subscriber sees the north concourse grow by one
            seen = None
            async with asyncio.timeout(10):
                while seen is None:
                    msg = decode_server_message(await live.recv())
                    if isinstance(msg, ZonesUpdate):
                        seen = {z.id: z for z in msg.zones}.get("north")
            assert seen is not None and seen.occupancy == before["north"] + 1
            assert seen.density == pytest.approx(seen.occupancy / 60, abs=1e-3)
            # stored exactly once, with the ticket, lane and verdict
            conn = await asyncpg.connect(server.db_url)
            try:
                rows = await conn.fetch("SELECT * FROM gate_events WHERE ticket_id = $1", ticket_id)
            finally:
                await conn.close()
            assert [(r["gate_id"], r["kind"], r["lane"], r["verdict"]) for r in rows] == [
                ("N1", "entry", 1, "admit")]
            await wait_for(lambda: gate.journal.pending() == 0)
            # second entry with the same ticket anywhere: anti-passback refuses it
            again = await gate.scan(read_file(png), lane=0)
            assert again.decision.verdict == "deny"
            assert "already_inside" in again.event.reasons
        finally:
            await gate.stop()


async def test_gate_offline_journals_and_replays_without_double_counting(server: Server,
                                                                        tmp_path: Path) -> None:
    # the gate starts pointed at a port where nothing listens: the server is "down"
    from command.db.embedded import free_port

    dead = f"ws://127.0.0.1:{free_port()}/ws/gate"
    gate = await start_gate(server, "S1", tmp_path, url=dead)
    try:
        for _ in range(3):
            _, png = await ticket_png(server, tmp_path, "S1")
            res = await gate.scan(read_file(png))
            assert res.decision.verdict == "admit"
        assert gate.journal.pending() == 3
    finally:
        await gate.stop()
    # back online: a new process of the same gate replays its journal
    gate = await start_gate(server, "S1", tmp_path)
    try:
        await wait_for(lambda: gate.journal.pending() == 0, within=15)
        conn = await asyncpg.connect(server.db_url)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM gate_events WHERE gate_id = 'S1'")
            counted = await conn.fetchval("SELECT entries FROM gate_counters WHERE gate_id = 'S1'")
            south = await conn.fetchval(
                "SELECT entries - exits FROM zone_counters WHERE zone_id = 'south'")
        finally:
            await conn.close()
        assert (stored, counted, south) == (3, 3, 3)
        # replaying everything again (as after a lost ack) stores nothing twice
        with gate.journal._lock:
            gate.journal._db.execute("UPDATE events SET acked = 0")
        gate.uplink.notify()
        await wait_for(lambda: gate.journal.pending() == 0, within=15)
        conn = await asyncpg.connect(server.db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM gate_events WHERE gate_id = 'S1'") == 3
            assert await conn.fetchval("SELECT entries FROM gate_counters WHERE gate_id = 'S1'") == 3
        finally:
            await conn.close()
    finally:
        await gate.stop()


async def test_a_poison_event_in_a_gate_journal_never_blocks_its_uplink(server: Server, tmp_path: Path) -> None:
    """A gate whose journal holds an event with values the server cannot store (lane 3e9 and
    latency 1e40, as an older gate recorded them from `POST /scan?lane=3000000000`) keeps
    streaming: the server sets that event aside, the admissions after it are stored, and the
    journal drains. (Before, the batch failed in the database every time and was resent forever.)"""
    import uuid

    from eventguard.wire import EventKind, GateEvent

    gate = await start_gate(server, "N1", tmp_path, start=False)
    try:
        poison = GateEvent(event_id=f"N1:{uuid.uuid4().hex}", gate_id="N1", kind=EventKind.ENTRY,
                           at=1e300, lane=3_000_000_000, latency_ms=1e40, verdict="admit")
        await gate.record(poison)  # journaled as built: constraints apply when decoding only
        await gate.start()
        ticket_id, png = await ticket_png(server, tmp_path, "N1")
        assert (await gate.scan(read_file(png), lane=1)).decision.verdict == "admit"
        await wait_for(lambda: gate.journal.pending() == 0, within=15)
        conn = await asyncpg.connect(server.db_url)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM gate_events WHERE ticket_id = $1", ticket_id)
            aside = await conn.fetchrow("SELECT gate_id, field FROM rejected_events WHERE event_id = $1",
                                        poison.event_id)
        finally:
            await conn.close()
        assert stored == 1
        assert (aside["gate_id"], aside["field"]) == ("N1", "at")
    finally:
        await gate.stop()
