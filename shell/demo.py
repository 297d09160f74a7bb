"""`eventguard demo`: embedded PostgreSQL, the command server, gates and a stream of arrivals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from command import issuing, server
from command.provision import DEMO_USERS, Provisioned, provision
from eventguard.config import Venue
from eventguard.settings import ServerSettings
from eventguard.wire import EventKind, GateEvent
from gate.service import GateCache, GateConfig, GateService

log = logging.getLogger("shell.demo")

async def start_gates(venue: Venue, prov: Provisioned, server_url: str, journal_dir: Path,
                      keys: dict[int, issuing.Ed25519PublicKey]) -> list[GateService]:
    """One GateService per venue gate, streaming to the command server."""
    gates = []
    for g in venue.gates:
        cfg = GateConfig(gate_id=g.id, event_id=venue.event.id, server_url=f"{server_url}/ws/gate",
                         token=prov.gate_tokens[g.id], journal_path=journal_dir / f"{g.id}.sqlite",
                         face_required=False, workers=2)
        svc = GateService(cfg, GateCache(keys=dict(keys)))
        await svc.start()
        gates.append(svc)
    return gates


async def demo(dsn: str, venue: Venue, *, host: str, port: int, duration: float | None,
               rate_per_s: float, seed: int, key_dir: Path, app_dsn: str | None = None) -> int:
    """Run the whole venue until duration elapses or the task is cancelled (the server runs
    with app_dsn when given, the demo's own tools with dsn)."""
    from sim.stream import run_stream

    prov = await provision(dsn, venue, key_dir)
    settings = ServerSettings(host=host, port=port, database_url=app_dsn or dsn, admin_database_url=dsn,
                              key_dir=key_dir)
    from sim.evacuation_model import VenueClearance
    from sim.twin_model import VenueTwin

    runner = await server.start(settings, venue, twin=VenueTwin.for_venue(venue),  # twin: issue 19
                                clearance=VenueClearance(venue))  # evacuation clearance: issue 20
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    assert pool is not None
    journal_dir = Path(tempfile.mkdtemp(prefix="eventguard-gates-"))
    gates: list[GateService] = []
    try:
        async with pool.acquire() as conn:
            keys = await issuing.public_keys(conn, venue.event.id)
        gates = await start_gates(venue, prov, f"ws://{host}:{port}", journal_dir, keys)
        log.info("command center: http://%s:%d  (log in as commander / %s)", host, port,
                 DEMO_USERS["commander"][0])
        log.info("gates: %s; arrivals ~%.1f/s", ", ".join(g.cfg.gate_id for g in gates), rate_per_s)
        reporter = asyncio.create_task(_report(pool, venue))
        circulation = asyncio.create_task(_circulate(pool, venue, gates, random.Random(seed + 1)))
        stream = asyncio.create_task(run_stream(
            pool, gates, event_id=venue.event.id, key_id=prov.key_id, key=prov.key,
            rate_per_s=rate_per_s, duration_s=duration if duration is not None else float("inf"),
            rng=random.Random(seed)))
        try:
            stats = await stream
            log.info("stream done: %d scans %s", stats.scans, stats.by_verdict)
            await _drain(gates, timeout_s=10)
        finally:
            reporter.cancel()
            circulation.cancel()
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await circulation
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            with contextlib.suppress(asyncio.CancelledError):
                await stream
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM gate_events")
        recorded = sum(len(g.journal.event_ids()) for g in gates)
        log.info("gates recorded %d events this run; %d stored in total", recorded, stored)
        return 0
    finally:
        for g in gates:
            await g.stop()
        await pool.close()
        await runner.cleanup()


async def _drain(gates: list[GateService], timeout_s: float) -> None:
    """Give the uplinks time to deliver what the gates journaled."""
    deadline = time.monotonic() + timeout_s
    for g in gates:
        while g.journal.pending() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a file
            await asyncio.sleep(0.2)


async def _circulate(pool: asyncpg.Pool, venue: Venue, gates: list[GateService], rng: random.Random,
                     every_s: float = 3.0, share: float = 0.3) -> None:
    """Move part of each concourse on into the zones behind it, as the concourse sensors at the
    gates would report (TRANSFER events journaled by the zone's first gate)."""
    gate_zones = {g.zone for g in venue.gates}
    by_zone: dict[str, GateService] = {}
    for g in gates:
        by_zone.setdefault(venue.gate(g.cfg.gate_id).zone, g)
    while True:
        await asyncio.sleep(every_s)
        async with pool.acquire() as conn:
            occ = dict(await conn.fetch("SELECT zone_id, entries - exits + transfers_in - transfers_out"
                                        " FROM zone_counters"))
        for zone, gate in by_zone.items():
            targets = [c.b if c.a == zone else c.a for c in venue.connections
                       if zone in (c.a, c.b) and (c.b if c.a == zone else c.a) not in gate_zones]
            move = int(max(0, occ.get(zone, 0)) * share)
            for _ in range(move):
                if not targets:
                    break
                await gate.record(GateEvent(
                    event_id=f"{gate.cfg.gate_id}:{uuid.uuid4().hex}", gate_id=gate.cfg.gate_id,
                    kind=EventKind.TRANSFER, at=time.time(), zone_from=zone, zone_to=rng.choice(targets)))
            # and some come back out from the inner zones toward this concourse (leaving, food, …)
            for inner_zone in targets:
                back = int(max(0, occ.get(inner_zone, 0)) * share / 4 / max(1, len(by_zone)))
                for _ in range(back):
                    await gate.record(GateEvent(
                        event_id=f"{gate.cfg.gate_id}:{uuid.uuid4().hex}", gate_id=gate.cfg.gate_id,
                        kind=EventKind.TRANSFER, at=time.time(), zone_from=inner_zone, zone_to=zone))


async def _report(pool: asyncpg.Pool, venue: Venue) -> None:
    while True:
        await asyncio.sleep(5)
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT zone_id, entries - exits + transfers_in - transfers_out AS n "
                                    "FROM zone_counters ORDER BY zone_id")
        log.info("occupancy: %s", ", ".join(f"{r['zone_id']}={r['n']}" for r in rows))
