"""`eventguard bench presence`: how fast an admission at one gate reaches the others.

A real command server (its own process, embedded PostgreSQL with fsync) and `gates` real gate
services (tickets only) connected over loopback websockets. Tickets are scanned as QR frames at
gate A = i mod gates, `rate` per second over all gates; for every admission the benchmark
records when each other gate's presence shows the ticket inside (from then on that gate
refuses it as already_inside): the propagation time is that moment minus the moment gate A
journaled the admission. Reported: p50/p95/p99/max over all (ticket, other gate) pairs and over
the slowest other gate per ticket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from command import issuing
from eventguard.config import Venue, load_venue
from eventguard.settings import DEFAULT_VENUE
from eventguard.wire import EventKind, ListSync
from gate.service import GateCache, GateConfig, GateService, ScanResult
from shell import stack
from sim.frames import compose, qr_image

_GATE = """
[[gates]]
id = "G{i:02d}"
name = "Gate {i}"
zone = "{zone}"
lanes = 2
position = [{x}, -1]
"""


def venue_with_gates(n: int, root: Path) -> Path:
    """The demo venue's zones with `n` gates (G00...) spread over its concourses."""
    text = DEFAULT_VENUE.read_text(encoding="utf-8")
    head = text[:text.index("[[gates]]")]
    tail = text[text.index("[[connections]]"):] if "[[connections]]" in text else ""
    gates = "".join(_GATE.format(i=i, zone=("north", "south")[i % 2], x=2 * i) for i in range(n))
    path = root / f"venue-{n}-gates.toml"
    path.write_text(head.replace('id = "demo-2026"', 'id = "bench-presence"') + gates + "\n" + tail,
                    encoding="utf-8")
    plan = load_venue(DEFAULT_VENUE).plan
    if plan is not None:  # [plan] finds its picture beside the venue file
        shutil.copy(plan.image, root / plan.image.name)
    return path


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)), 1) if xs else float("nan")


async def _run(venue: Venue, st: stack.Stack, tickets: int, rate: float) -> dict[str, Any]:
    conn = await asyncpg.connect(st.dsn)
    try:
        keys = await issuing.public_keys(conn, venue.event.id)
        now = int(time.time())
        frames = []
        for _ in range(tickets):
            t, payload = await issuing.issue(conn, event_id=venue.event.id, key_id=st.prov.key_id,
                                             key=st.prov.key, valid_from=now - 60, valid_until=now + 3600, now=now)
            frames.append((t.ticket_id, compose(np.full((200, 150, 3), 150, np.uint8), qr_image(payload))))
    finally:
        await conn.close()
    seen: dict[tuple[str, str], float] = {}  # (gate, ticket) -> when that gate learned it is inside
    admitted: dict[str, tuple[str, float]] = {}  # ticket -> (gate, when it journaled the admission)
    gates: list[GateService] = []
    root = st.root / "gates"
    for vg in venue.gates:
        svc = GateService(GateConfig(gate_id=vg.id, event_id=venue.event.id,
                                     server_url=f"ws://127.0.0.1:{st.port}/ws/gate", token=st.tokens[vg.id],
                                     journal_path=root / f"{vg.id}.sqlite", face_required=False, workers=1),
                          GateCache(keys=dict(keys)))

        def on_sync(msg: ListSync, gate_id: str = vg.id) -> None:
            t = time.perf_counter()
            for pc in msg.presence:
                if pc.inside:
                    seen.setdefault((gate_id, pc.ticket_id), t)

        async def on_scan(res: ScanResult) -> None:
            if res.event.kind is EventKind.ENTRY and res.event.ticket_id:
                admitted[res.event.ticket_id] = (res.event.gate_id, time.perf_counter())

        svc.sync_listeners.append(on_sync)
        svc.listeners.append(on_scan)
        await svc.start()
        gates.append(svc)
    try:
        deadline = time.monotonic() + 30
        while not all(g.uplink.connected.is_set() for g in gates):
            if time.monotonic() > deadline:
                raise RuntimeError("gates did not connect")
            await asyncio.sleep(0.1)
        t0 = time.monotonic()
        scans = []
        for i, (_, frame) in enumerate(frames):
            scans.append(asyncio.create_task(gates[i % len(gates)].scan(frame)))
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
        results = await asyncio.gather(*scans)
        others = len(gates) - 1
        deadline = time.monotonic() + 30
        while sum(1 for (g, t) in seen if t in admitted and g != admitted[t][0]) < len(admitted) * others:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        for g in gates:
            await g.stop()
    pairs: list[float] = []
    slowest: list[float] = []
    missing = 0
    for ticket, (gate_a, at) in admitted.items():
        lat = [(seen[(g.cfg.gate_id, ticket)] - at) * 1000 for g in gates
               if g.cfg.gate_id != gate_a and (g.cfg.gate_id, ticket) in seen]
        missing += others - len(lat)
        pairs += lat
        if len(lat) == others:
            slowest.append(max(lat))
    verdicts = [r.decision.verdict.value for r in results]
    return {
        "tickets": tickets, "admitted": len(admitted), "denied": verdicts.count("deny"),
        "pairs": len(pairs), "missing_pairs": missing,
        "propagation_ms": {"p50": _pct(pairs, 50), "p95": _pct(pairs, 95), "p99": _pct(pairs, 99),
                           "max": round(max(pairs), 1) if pairs else None},
        "all_gates_ms": {"p50": _pct(slowest, 50), "p95": _pct(slowest, 95), "p99": _pct(slowest, 99)},
        "conditions": {"gates": len(gates), "rate_per_s": rate, "cpus": os.cpu_count(),
                       "load_avg": [round(x, 2) for x in os.getloadavg()],
                       "server": "separate process, embedded PostgreSQL with fsync, loopback websockets",
                       "measured": "gate A journals the admission -> gate B's presence shows the ticket inside"},
    }


def run(*, gates: int = 10, tickets: int = 1000, rate: float = 25.0) -> dict[str, Any]:
    """Run the benchmark; the figures with their conditions."""
    root = Path(tempfile.mkdtemp(prefix="eventguard-bench-presence-"))
    path = venue_with_gates(gates, root)
    venue = load_venue(path)
    with stack.running(venue, venue_path=path, prefix="eventguard-bench-presence-") as st:
        return asyncio.run(_run(venue, st, tickets, rate))
