"""Fast-mode load test: the macroscopic model's happenings as real gate traffic.

Each gate of the venue gets its own authenticated /ws/gate websocket; the timeline's events
are sent as EventBatches, pipelined (a bounded number of unacknowledged batches per gate, so
the server's one-message-at-a-time handling is the back-pressure). Every reply is matched in
order (the server answers each batch with a BatchAck or an ErrorMsg), so
`lost = sent - stored - duplicates` counts what the server refused or never acknowledged.

Alert timeliness: the simulator marks the step at which a zone's density first reaches the
venue's warning threshold; a poller reads /api/alerts as a viewer. The delay reported is the
alert's `raised_at` (server clock) minus the wall time at which this client received the
acknowledgement of the batches that carried the zone's events of that window (same host, same
clock); it can be slightly negative when the server's 1 s alert tick falls between storing a
batch and the client reading its ack. Also reported in simulated seconds (sender's clock when
the poller first saw the alert), which depends on the speed-up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt

from eventguard.wire import (
    BatchAck,
    ErrorMsg,
    EventBatch,
    GateEvent,
    decode_server_message,
    encode,
)
from sim.scenario import Scenario
from sim.timeline import EventFactory, Timeline, gate_events

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MAX_BATCH = 1000


@dataclass
class Crossing:
    """A zone's density reached the warning threshold in the simulator."""

    zone: str
    t_sim: float
    window: int
    density: float
    gates: tuple[int, ...] = ()
    """Gates (indices) whose batches of that window carried the zone's events."""
    acked_wall: float | None = None
    alert_raised_at: float | None = None
    alert_seen_wall: float | None = None
    alert_level: str | None = None
    sim_t_at_alert: float | None = None

    @property
    def delay_s(self) -> float | None:
        """Server alert time minus the time the server held the crossing's events."""
        if self.alert_raised_at is None or self.acked_wall is None:
            return None
        return self.alert_raised_at - self.acked_wall


@dataclass
class Series:
    """Per-step time series kept for the report."""

    t: list[float] = field(default_factory=list)
    queue: list[IntArray] = field(default_factory=list)
    occupancy: list[IntArray] = field(default_factory=list)
    density: list[FloatArray] = field(default_factory=list)
    admitted: list[IntArray] = field(default_factory=list)


@dataclass
class LoadResult:
    """What one fast-mode run sent and what the server did with it."""

    scenario: str
    gate_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    series: Series
    crossings: list[Crossing]
    sent: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: int = 0
    batches: int = 0
    wall_s: float = 0.0
    sim_s: float = 0.0
    sim_occupancy: dict[str, int] = field(default_factory=dict)
    server_occupancy: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Events sent but neither stored nor already stored."""
        return self.sent - self.stored - self.duplicates

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures."""
        delays = [c.delay_s for c in self.crossings if c.delay_s is not None]
        return {
            "scenario": self.scenario, "sim_minutes": round(self.sim_s / 60, 2),
            "wall_s": round(self.wall_s, 2),
            "events_sent": self.sent, "events_stored": self.stored, "duplicates": self.duplicates,
            "events_lost": self.lost, "error_replies": self.errors, "batches": self.batches,
            "events_per_s": round(self.stored / self.wall_s, 1) if self.wall_s else 0.0,
            "speedup": round(self.sim_s / self.wall_s, 1) if self.wall_s else 0.0,
            "admitted": int(sum(int(a.sum()) for a in self.series.admitted)),
            "occupancy_match": self.sim_occupancy == self.server_occupancy,
            "sim_occupancy": self.sim_occupancy, "server_occupancy": self.server_occupancy,
            "alerts": [{"zone": c.zone, "t_sim_s": c.t_sim, "density": round(c.density, 3),
                        "alert_level": c.alert_level,
                        "delay_s": None if c.delay_s is None else round(c.delay_s, 3),
                        "sim_t_at_alert_s": c.sim_t_at_alert,
                        "delay_sim_s": (None if c.sim_t_at_alert is None
                                        else round(c.sim_t_at_alert - c.t_sim, 1))}
                       for c in self.crossings],
            "alert_delay_max_s": round(max(delays), 3) if delays else None,
        }


class GateLink:
    """One gate's websocket: pipelined batches, replies matched in order."""

    def __init__(self, gate_id: str, max_in_flight: int = 8) -> None:
        self.gate_id = gate_id
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: deque[tuple[str, int, int]] = deque()  # batch id, events, window
        self._idle = asyncio.Event()
        self._idle.set()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.stored = self.duplicates = self.errors = self.sent = self.batches = 0
        self.on_ack: Callable[[str, int, float], None] = lambda gate, window, at: None

    async def open(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        """Connect and wait for the server's welcome."""
        self.ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {token}"},
                                           max_msg_size=1 << 22, heartbeat=30)
        first = await self.ws.receive()
        if first.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"gate {self.gate_id}: no welcome ({first.type})")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            m = decode_server_message(msg.data)
            if not isinstance(m, BatchAck | ErrorMsg) or not self._pending:
                continue  # orders, list syncs: not ours to answer here
            batch_id, n, window = self._pending.popleft()
            if isinstance(m, BatchAck):
                if m.batch_id != batch_id:
                    raise RuntimeError(f"gate {self.gate_id}: ack {m.batch_id} for {batch_id}")
                self.stored += m.stored
                self.duplicates += m.duplicates
            else:
                self.errors += 1
            self.on_ack(self.gate_id, window, time.time())
            self._slots.release()
            if not self._pending:
                self._idle.set()
        while self._pending:  # connection gone: the rest is lost
            self._pending.popleft()
            self._slots.release()
        self._idle.set()

    async def send(self, events: list[GateEvent], window: int) -> None:
        """Send in batches of at most MAX_BATCH events (waits for a free slot)."""
        assert self.ws is not None
        for i in range(0, len(events), MAX_BATCH):
            chunk = tuple(events[i:i + MAX_BATCH])
            await self._slots.acquire()
            batch_id = uuid.uuid4().hex[:12]
            self._pending.append((batch_id, len(chunk), window))
            self._idle.clear()
            self.sent += len(chunk)
            self.batches += 1
            await self.ws.send_str(encode(EventBatch(batch_id=batch_id, events=chunk)).decode())

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until every batch has a reply."""
        await asyncio.wait_for(self._idle.wait(), timeout_s)

    async def close(self) -> None:
        """Close the socket and stop reading."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def login(session: aiohttp.ClientSession, url: str, username: str, password: str) -> str:
    """Session token of an operator."""
    async with session.post(f"{url}/api/login", json={"username": username, "password": password}) as r:
        r.raise_for_status()
        return str((await r.json())["token"])


async def server_occupancy(session: aiohttp.ClientSession, url: str, token: str) -> dict[str, int]:
    """Zone occupancies as the command server reports them."""
    async with session.get(f"{url}/api/snapshot", headers={"Authorization": f"Bearer {token}"}) as r:
        r.raise_for_status()
        snap = await r.json()
    return {z["id"]: int(z["occupancy"]) for z in snap["zones"]}


async def _poll_alerts(session: aiohttp.ClientSession, url: str, token: str,
                       crossings: dict[str, Crossing], now_sim: Callable[[], float],
                       interval_s: float) -> None:
    while True:
        async with session.get(f"{url}/api/alerts", headers={"Authorization": f"Bearer {token}"}) as r:
            alerts = await r.json() if r.status == 200 else []
        seen = time.time()
        for a in alerts:
            c = crossings.get(a["subject"])
            if a["kind"].startswith("density") and c is not None and c.alert_raised_at is None:
                c.alert_raised_at, c.alert_seen_wall = float(a["raised_at"]), seen
                c.alert_level, c.sim_t_at_alert = str(a["level"]), now_sim()
        await asyncio.sleep(interval_s)


async def run_fast(scenario: Scenario, *, url: str, gate_tokens: dict[str, str], viewer: tuple[str, str],
                   seed: int = 0, speedup: float = 0.0, window_s: float = 30.0,
                   progress: Callable[[float, LoadResult], None] | None = None,
                   alert_grace_s: float = 3.0) -> LoadResult:
    """Run the scenario against a command server at `url` (http://host:port).

    `speedup` > 0 paces the run at that many simulated seconds per wall second; 0 sends as
    fast as the server acknowledges. `window_s` simulated seconds of events go out together.
    """
    tl = Timeline(scenario, np.random.default_rng(seed))
    net = tl.net
    warning = np.array([scenario.venue.thresholds_for(z).warning_density for z in net.zone_ids])
    res = LoadResult(scenario=scenario.name, gate_ids=net.gate_ids, zone_ids=net.zone_ids,
                     series=Series(), crossings=[])
    crossings: dict[str, Crossing] = {}
    acked: dict[tuple[str, int], float] = {}

    def on_ack(gate: str, window: int, at: float) -> None:
        acked[(gate, window)] = max(acked.get((gate, window), 0.0), at)

    factory = EventFactory(uuid.uuid4().hex[:8])
    ws_url = url.replace("http", "ws", 1) + "/ws/gate"
    links = [GateLink(g) for g in net.gate_ids]
    for link in links:
        link.on_ack = on_ack
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(link.open(session, ws_url, gate_tokens[link.gate_id]) for link in links))
        token = await login(session, url, *viewer)
        t0 = time.time()
        poller = asyncio.create_task(_poll_alerts(session, url, token, crossings,
                                                  lambda: tl.state.t, 0.1))
        window = 0
        try:
            while not tl.done:
                per_gate: dict[int, list[GateEvent]] = {}
                end = tl.state.t + window_s
                at = time.time()
                while not tl.done and tl.state.t < end - 1e-9:
                    rep = tl.advance()
                    for gi, evs in gate_events(tl, rep, factory, at).items():
                        per_gate.setdefault(gi, []).extend(evs)
                    s = res.series
                    s.t.append(rep.t)
                    s.queue.append(rep.queue)
                    s.occupancy.append(rep.occupancy)
                    s.density.append(rep.density)
                    s.admitted.append(rep.admitted)
                    for zi in np.flatnonzero(rep.density >= warning).tolist():
                        zid = net.zone_ids[zi]
                        if zid not in crossings:
                            into = {g for a, b, _ in rep.moves if b == zi and (g := tl.reporter(a, b)) is not None}
                            into |= set(tl.zone_gates[zi])
                            crossings[zid] = Crossing(zid, rep.t, window, float(rep.density[zi]),
                                                      gates=tuple(sorted(into)))
                            res.crossings.append(crossings[zid])
                await asyncio.gather(*(links[gi].send(evs, window) for gi, evs in per_gate.items()))
                window += 1
                if speedup > 0:
                    await asyncio.sleep(max(0.0, t0 + tl.state.t / speedup - time.time()))
                if progress is not None:
                    res.sent = sum(link.sent for link in links)
                    res.stored = sum(link.stored for link in links)
                    progress(tl.state.t / (tl.steps * tl.dt), res)
            await asyncio.gather(*(link.drain() for link in links))
            res.wall_s = time.time() - t0
            pending = [c for c in res.crossings if c.alert_raised_at is None]
            deadline = time.time() + alert_grace_s
            while pending and time.time() < deadline:
                await asyncio.sleep(0.1)
                pending = [c for c in res.crossings if c.alert_raised_at is None]
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        for c in res.crossings:
            times = [acked[k] for k in ((net.gate_ids[g], c.window) for g in c.gates) if k in acked]
            c.acked_wall = max(times) if times else None
        res.sim_s = tl.state.t
        res.sent = sum(link.sent for link in links)
        res.stored = sum(link.stored for link in links)
        res.duplicates = sum(link.duplicates for link in links)
        res.errors = sum(link.errors for link in links)
        res.batches = sum(link.batches for link in links)
        res.sim_occupancy = {z: int(n) for z, n in zip(net.zone_ids, tl.state.occupancy.tolist(),
                                                       strict=True)}
        res.server_occupancy = await server_occupancy(session, url, token)
        for link in links:
            await link.close()
    return res
