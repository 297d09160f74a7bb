"""`eventguard bench command`: the command server on real PostgreSQL under gate load with
many live-map clients. The server runs in its own process (its RSS is measured); gates
are driven from this process and the live clients from a third one.

Figures: events stored per second (acknowledged by the server, so durably committed),
scan-to-live-map latency percentiles (gate clock at send to the client's receipt of the
zone delta that includes it — same host, same clock), live clients, server RSS.
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

from eventguard.codes import Verdict
from eventguard.config import load_venue
from eventguard.settings import DEFAULT_VENUE
from eventguard.wire import (
    BatchAck,
    EventBatch,
    EventKind,
    GateEvent,
    Snapshot,
    ZonesUpdate,
    decode_server_message,
    encode,
)
from shell import stack


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _clients(url: str, token: str, n: int, duration_s: float, ready: Any, out: Any) -> None:
    lat: list[float] = []
    connected = 0

    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def one() -> None:
        nonlocal connected
        async with session.ws_connect(url, headers={"Authorization": f"Bearer {token}"},
                                      max_msg_size=1 << 24, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            first = await ws.receive()
            assert isinstance(decode_server_message(first.data), Snapshot)
            connected += 1
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                raw = msg.data
                if '"type":"zones"' in raw[:20]:
                    m = decode_server_message(raw)
                    if isinstance(m, ZonesUpdate) and m.last_scan_at:
                        lat.append((time.time() - m.last_scan_at) * 1000)

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one()))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    while connected < n and not all(t.done() for t in tasks):  # noqa: ASYNC110 - counts connects
        await asyncio.sleep(0.1)
    ready.set()
    # the driver signals the end through a file-less channel: the duration plus a grace period
    await asyncio.sleep(duration_s + 3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    out.put({"connected": connected, "latencies_ms": lat})


def _client_proc(url: str, token: str, n: int, duration_s: float, ready: Any, out: Any) -> None:
    asyncio.run(_clients(url, token, n, duration_s, ready, out))


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


def run(*, clients: int = 1000, duration_s: float = 10.0, batch: int = 200, rate_per_gate: float = 0.0) -> dict[str, Any]:
    """Run the benchmark; return the figures (see module docstring)."""
    with stack.running(load_venue(DEFAULT_VENUE), prefix="eventguard-bench-") as st:
        asyncio.run(_bench_operator(st.dsn))
        tokens, port, server = st.tokens, st.port, st.server
        assert server is not None
        base = f"http://127.0.0.1:{port}"
        token = asyncio.run(_login(base))
        ctx = mp.get_context("spawn")
        ready, out = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_client_proc, args=(f"ws://127.0.0.1:{port}/ws/live", token, clients,
                                                      duration_s, ready, out))
        proc.start()
        if not ready.wait(180):
            raise RuntimeError("live clients did not connect")
        rss_before = psutil.Process(server.pid).memory_info().rss

        async def drive() -> tuple[int, float]:
            until = time.time() + duration_s
            t0 = time.time()
            counts = await asyncio.gather(*(_gate(f"ws://127.0.0.1:{port}/ws/gate", tokens[g], g, batch, until,
                                                  rate_per_gate) for g in tokens))
            return sum(counts), time.time() - t0

        stored, elapsed = asyncio.run(drive())
        rss = psutil.Process(server.pid).memory_info().rss
        result = out.get(timeout=120)
        proc.join(30)
        lat = result["latencies_ms"]
        return {
            "events_per_s": round(stored / elapsed, 1),
            "events_stored": stored,
            "push_p50_ms": round(_pct(lat, 0.50), 1),
            "push_p99_ms": round(_pct(lat, 0.99), 1),
            "push_samples": len(lat),
            "clients": result["connected"],
            "rss_mb": round(rss / 2**20, 1),
            "rss_idle_mb": round(rss_before / 2**20, 1),
            "conditions": {"duration_s": duration_s, "gates": len(tokens), "batch": batch,
                           "cpus": os.cpu_count(), "postgres": "embedded, fsync on, loopback",
                           "live_interval_s": 0.1, "mean_push_ms": round(statistics.fmean(lat), 1) if lat else None},
        }


def main_json(**kw: Any) -> str:
    """Run and render as one JSON line."""
    return json.dumps(run(**kw))
