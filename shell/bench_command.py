"""`eventguard bench command`: the command server on real PostgreSQL under gate load with
many live-map clients. The server runs in its own process (its RSS is measured); gates
are driven from this process and the live clients from a third one.

Figures: events stored per second (acknowledged by the server, so durably committed),
scan-to-live-map latency percentiles (gate clock at send to the client's receipt of the
zone delta that includes it — same host, same clock), live clients, server RSS, and the CPU
the ingest process and the fan-out replicas used. The live clients connect to the replicas'
port (GET /api/live), as the pages do; they run in `client_procs` processes of their own
(shell/live_load.py: one bare protocol per client).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import statistics
import time
import uuid
from typing import Any

import psutil
import websockets

from eventguard import aio
from eventguard.codes import Verdict
from eventguard.config import load_venue
from eventguard.settings import DEFAULT_VENUE
from eventguard.wire import (
    BatchAck,
    EventBatch,
    EventKind,
    GateEvent,
    decode_server_message,
    encode,
)
from shell import live_load, stack


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _clients(host: str, port: int, path: str, token: str, n: int, duration_s: float, ready: Any,
                   go: Any, out: Any) -> None:
    stats = live_load.LoadStats()
    clients = await live_load.connect_many(host, port, path, token, n, stats)
    ready.set()
    while not go.is_set():  # noqa: ASYNC110 - a multiprocessing event
        await asyncio.sleep(0.05)
    stats.latencies_ms.clear()  # only the gate load counts
    await asyncio.sleep(duration_s + 3)
    for c in clients:
        if c.transport is not None:
            c.transport.abort()
    out.put({"connected": stats.connected, "failed": stats.failed, "latencies_ms": stats.latencies_ms,
             "resyncs": stats.snapshots - stats.connected, "messages": stats.messages})


def _client_proc(host: str, port: int, path: str, token: str, n: int, duration_s: float, ready: Any, go: Any,
                 out: Any) -> None:
    aio.run(_clients(host, port, path, token, n, duration_s, ready, go, out))


async def _gate(url: str, token: str, gate_id: str, batch: int, until: float, rate_per_s: float) -> int:
    stored = 0
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  max_size=1 << 22) as ws:
        await ws.recv()  # welcome (and any pending orders follow)
        interval = batch / rate_per_s if rate_per_s > 0 else 0.0
        while time.time() < until:
            t0 = time.time()
            p = uuid.uuid4().hex[:10]
            events = tuple(GateEvent(event_id=f"{gate_id}:{p}{i}", gate_id=gate_id,
                                     kind=EventKind.ENTRY if i % 4 else EventKind.EXIT, at=time.time(),
                                     lane=i % 4, verdict=Verdict.ADMIT) for i in range(batch))
            await ws.send(encode(EventBatch(batch_id=p, events=events)).decode())
            while True:
                m = decode_server_message(await ws.recv())
                if isinstance(m, BatchAck):
                    stored += m.stored
                    break
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.time() - t0)))
    return stored


async def _bench_operator(dsn: str) -> None:
    import asyncpg

    from command.auth import Role, create_operator

    conn = await asyncpg.connect(dsn)
    try:
        await create_operator(conn, "bench", "bench-password", Role.VIEWER)
    finally:
        await conn.close()


async def _login(url: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/login",
                                                    json={"username": "bench", "password": "bench-password"}) as r:
        return str((await r.json())["token"])


async def _live_endpoint(url: str, token: str) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/live",
                                                   headers={"Authorization": f"Bearer {token}"}) as r:
        where = await r.json()
    return int(where["port"] or url.rsplit(":", 1)[1]), str(where["path"])


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def run(*, clients: int = 1000, duration_s: float = 10.0, batch: int = 200, rate_per_gate: float = 0.0,
        replicas: int = 2, client_procs: int = 1) -> dict[str, Any]:
    """Run the benchmark; return the figures (see module docstring)."""
    serve_args = ("--live-replicas", str(replicas))
    with stack.running(load_venue(DEFAULT_VENUE), prefix="eventguard-bench-", serve_args=serve_args) as st:
        asyncio.run(_bench_operator(st.dsn))
        tokens, port, server = st.tokens, st.port, st.server
        assert server is not None
        base = f"http://127.0.0.1:{port}"
        token = asyncio.run(_login(base))
        live_port, path = asyncio.run(_live_endpoint(base, token))
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        procs, readies = [], []
        for i in range(client_procs):
            n = clients // client_procs + (1 if i < clients % client_procs else 0)
            ready = ctx.Event()
            p = ctx.Process(target=_client_proc, args=("127.0.0.1", live_port, path, token, n, duration_s,
                                                       ready, go, out))
            p.start()
            procs.append(p)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(600):
                raise RuntimeError("live clients did not connect")
        ingest = psutil.Process(server.pid)
        fanouts = ingest.children()
        rss_before = ingest.memory_info().rss
        loaders = [psutil.Process(p.pid) for p in procs]
        cpu0 = (_cpu_s(ingest), sum(_cpu_s(f) for f in fanouts), sum(_cpu_s(p) for p in loaders))
        load0 = os.getloadavg()[0]

        async def drive() -> tuple[int, float]:
            until = time.time() + duration_s
            t0 = time.time()
            go.set()
            counts = await asyncio.gather(*(_gate(f"ws://127.0.0.1:{port}/ws/gate", tokens[g], g, batch, until,
                                                  rate_per_gate) for g in tokens))
            return sum(counts), time.time() - t0

        stored, elapsed = aio.run(drive())
        cpu1 = (_cpu_s(ingest), sum(_cpu_s(f) for f in fanouts), sum(_cpu_s(p) for p in loaders))
        load1 = os.getloadavg()[0]
        rss = ingest.memory_info().rss
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        lat = [x for r in results for x in r["latencies_ms"]]
        return {
            "events_per_s": round(stored / elapsed, 1),
            "events_stored": stored,
            "push_p50_ms": round(_pct(lat, 0.50), 1),
            "push_p95_ms": round(_pct(lat, 0.95), 1),
            "push_p99_ms": round(_pct(lat, 0.99), 1),
            "push_samples": len(lat),
            "clients": sum(r["connected"] for r in results),
            "clients_failed": sum(r["failed"] for r in results),
            "client_resyncs": sum(r["resyncs"] for r in results),
            "rss_mb": round(rss / 2**20, 1),
            "rss_idle_mb": round(rss_before / 2**20, 1),
            "conditions": {"duration_s": duration_s, "gates": len(tokens), "batch": batch,
                           "rate_per_gate": rate_per_gate or "as fast as acks come back",
                           "event_loop": aio.loop_name(), "cpus": os.cpu_count(), "postgres": "embedded, fsync on, loopback",
                           "live_interval_s": 0.1, "gates_every_s": 0.5, "fanout_replicas": replicas,
                           "client_processes": client_procs,
                           "ingest_cpu_pct": round(100 * (cpu1[0] - cpu0[0]) / elapsed, 1),
                           "replicas_cpu_pct": round(100 * (cpu1[1] - cpu0[1]) / elapsed, 1),
                           "clients_cpu_pct": round(100 * (cpu1[2] - cpu0[2]) / elapsed, 1),
                           "load_avg_1min": [round(load0, 2), round(load1, 2)],
                           "mean_push_ms": round(statistics.fmean(lat), 1) if lat else None},
        }


def main_json(**kw: Any) -> str:
    """Run and render as one JSON line."""
    return json.dumps(run(**kw))
