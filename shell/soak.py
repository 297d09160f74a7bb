"""A whole stack in real processes for fault tests and `eventguard soak`: an embedded
PostgreSQL, the command server as a subprocess, gates as GateServices with their own
journals, and a scanner feeding them real QR frames of issued tickets. Each gate reaches the
server through its own loopback link (a PartitionProxy) that a fault can cut.

`verify()` compares what every gate journaled with what PostgreSQL holds: each event
stored exactly once, and the server's counters equal the gates' own.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from command import issuing
from eventguard.config import Venue
from gate.service import GateCache, GateConfig, GateService
from shell.partition import PartitionProxy
from shell.stack import Stack
from vision.image import Frame, read_file


@dataclass
class Verification:
    """Outcome of comparing the gates' journals with the database."""

    recorded: int = 0  # events the gates journaled
    stored: int = 0  # events in PostgreSQL from these gates
    missing: int = 0  # recorded but not stored (lost)
    unexpected: int = 0  # stored but never recorded
    counter_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing invented, counters agree."""
        return self.missing == 0 and self.unexpected == 0 and not self.counter_mismatches


class SoakStack(Stack):
    """The stack plus gates on partitionable links and pre-rendered ticket frames."""

    def __init__(self, venue: Venue, root: Path | None = None, *, venue_path: Path | None = None) -> None:
        super().__init__(venue, root, venue_path=venue_path)
        self.gates: list[GateService] = []
        self.links: dict[str, PartitionProxy] = {}  # gate id -> its link to the server
        self.frames: list[tuple[str, Frame]] = []  # (gate id, frame of a valid ticket)
        self.latencies_ms: list[float] = []
        self.scans = 0

    async def start_all(self, tickets_per_gate: int = 50) -> None:
        """PostgreSQL, provisioning, server, gates, pre-rendered ticket frames."""
        prov = await self.start()
        conn = await asyncpg.connect(self.dsn)
        try:
            keys = await issuing.public_keys(conn, self.venue.event.id)
            now = int(time.time())
            for g in self.venue.gates:
                for i in range(tickets_per_gate):
                    _, payload = await issuing.issue(
                        conn, event_id=self.venue.event.id, key_id=prov.key_id, key=prov.key,
                        valid_from=now - 60, valid_until=now + 86400, now=now)
                    png = issuing.render_png(payload, self.root / "png" / f"{g.id}-{i}.png", scale=4)
                    self.frames.append((g.id, read_file(png)))
        finally:
            await conn.close()
        for g in self.venue.gates:
            link = PartitionProxy("127.0.0.1", self.port)
            await link.start()
            self.links[g.id] = link
            cfg = GateConfig(gate_id=g.id, event_id=self.venue.event.id,
                             server_url=f"ws://127.0.0.1:{link.port}/ws/gate", token=prov.gate_tokens[g.id],
                             journal_path=self.root / "journals" / f"{g.id}.sqlite", face_required=False,
                             workers=1)
            svc = GateService(cfg, GateCache(keys=dict(keys)))
            await svc.start()
            self.gates.append(svc)

    async def scan_loop(self, duration_s: float, rate_per_s: float, rng: random.Random) -> None:
        """Scan tickets at the gates: each ticket enters, later leaves, and may enter again."""
        by_gate = {g.cfg.gate_id: g for g in self.gates}
        inside: set[int] = set()
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            await asyncio.sleep(rng.expovariate(rate_per_s))
            i = rng.randrange(len(self.frames))
            gate_id, frame = self.frames[i]
            direction = "exit" if i in inside else "entry"
            res = await by_gate[gate_id].scan(frame, lane=rng.randrange(2), direction=direction)
            self.scans += 1
            if res.event.latency_ms is not None:
                self.latencies_ms.append(res.event.latency_ms)
            if res.event.kind.value == "entry":
                inside.add(i)
            elif res.event.kind.value == "exit":
                inside.discard(i)

    async def drain(self, timeout_s: float = 60) -> bool:
        """Wait until every gate's journal is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(g.journal.pending() == 0 for g in self.gates):
                return True
            await asyncio.sleep(0.2)  # noqa: ASYNC110 - polls the gates' journals
        return False

    async def verify(self) -> Verification:
        """Compare the journals with PostgreSQL."""
        v = Verification()
        conn = await asyncpg.connect(self.dsn)
        try:
            for g in self.gates:
                recorded = set(g.journal.event_ids())
                stored = {r["event_id"] for r in await conn.fetch(
                    "SELECT event_id FROM gate_events WHERE gate_id = $1", g.cfg.gate_id)}
                v.recorded += len(recorded)
                v.stored += len(stored)
                v.missing += len(recorded - stored)
                v.unexpected += len(stored - recorded)
                counts = g.journal.counts()
                mine = {k: sum(n for (_, kind), n in counts.items() if kind == k)
                        for k in ("entry", "exit", "deny", "secondary")}
                row = await conn.fetchrow("SELECT entries, exits, denies, secondary FROM gate_counters"
                                          " WHERE gate_id = $1", g.cfg.gate_id)
                theirs = {"entry": row["entries"], "exit": row["exits"], "deny": row["denies"],
                          "secondary": row["secondary"]}
                if mine != theirs:
                    v.counter_mismatches.append(f"{g.cfg.gate_id}: gate {mine} vs server {theirs}")
        finally:
            await conn.close()
        return v

    async def stop(self) -> None:
        """Stop everything (gates, links, server, PostgreSQL)."""
        for g in self.gates:
            await g.stop()
        for link in self.links.values():
            await link.close()
        await self.aclose()


def percentiles(xs: list[float]) -> dict[str, float]:
    """p50/p95/p99 of a sample (NaN when empty)."""
    if not xs:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(xs)
    return {k: round(float(np.percentile(a, q)), 1) for k, q in (("p50", 50), ("p95", 95), ("p99", 99))}


async def gate_outage(link: PartitionProxy, seconds: float) -> None:
    """Partition one gate from the server for `seconds` (it keeps deciding and journaling while
    its uplink retries), then heal the link."""
    link.cut()
    try:
        await asyncio.sleep(seconds)
    finally:
        link.restore()


async def soak(venue: Venue, minutes: float, *, rate_per_s: float = 20.0, seed: int = 1,
               faults: bool = True, gate_outage_s: float = 300.0, venue_path: Path | None = None,
               log: Any = print) -> dict[str, Any]:
    """Run the stack for `minutes` with periodic faults; return sent/stored/lost and latencies.

    Faults: the command server killed -9 and restarted, PostgreSQL stopped for 10 s, and one
    gate partitioned from the server for `gate_outage_s` (capped at a third of the run) from
    the start."""
    stack = SoakStack(venue, venue_path=venue_path)
    await stack.start_all()
    rng = random.Random(seed)
    duration = minutes * 60
    outage: asyncio.Task[None] | None = None
    try:
        scanner = asyncio.create_task(stack.scan_loop(duration, rate_per_s, rng))
        if faults and stack.gates:
            secs = min(gate_outage_s, duration / 3)
            gate_id = stack.gates[-1].cfg.gate_id
            outage = asyncio.create_task(gate_outage(stack.links[gate_id], secs))
            log(f"soak: gate {gate_id} partitioned from the server for {secs:.0f} s from the start")
        t0 = time.monotonic()
        fault_log: list[str] = []
        while not scanner.done():
            await asyncio.sleep(min(30.0, max(1.0, duration / 6)))
            if scanner.done() or not faults:
                continue
            elapsed = time.monotonic() - t0
            if len(fault_log) % 2 == 0:
                fault_log.append(f"{elapsed:.0f}s kill -9 command server")
                await stack.restart_server(down_s=3)
            else:
                await stack.stop_database("fast")
                fault_log.append(f"{elapsed:.0f}s PostgreSQL stopped for 10 s")
                await asyncio.sleep(10)
                await stack.start_database()
            log(f"soak: {fault_log[-1]}; {stack.scans} scans so far")
        await scanner
        if outage is not None:
            await outage
        drained = await stack.drain(120)
        v = await stack.verify()
        return {"minutes": minutes, "scans": stack.scans, "sent": v.recorded, "stored": v.stored,
                "lost": v.missing, "unexpected": v.unexpected, "drained": drained,
                "counters_agree": not v.counter_mismatches, "faults": fault_log,
                "gate_outage_s": min(gate_outage_s, duration / 3) if faults else 0,
                "decision_ms": percentiles(stack.latencies_ms)}
    finally:
        if outage is not None:
            outage.cancel()
        await stack.stop()
