"""One gate: frames in, verdicts out; every event journaled first, then streamed uplink.

CPU work (QR decode, face detection and encoding, 1:N search) runs in a bounded thread
pool — OpenCV and dlib release the GIL — so the event loop only moves data. Journal
writes go through a single dedicated thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventguard import tickets
from eventguard.presence import InsideView, Stay, merge, step
from eventguard.tickets import TicketCheck
from eventguard.wire import (
    EventKind,
    GateEvent,
    HitAck,
    ListSync,
    Order,
    OrderAck,
    PresenceChange,
    ServerMessage,
    SyncRequest,
    WatchlistHitReport,
)
from gate import qr
from gate.decide import Decision, FaceCheck, GateState, Hit, Verdict, decide
from gate.journal import Journal
from gate.listcache import ListCache, applies, decode_encoding, watch_entries
from gate.peers import PeerLinks
from gate.uplink import Uplink
from vision import dlibface as faces
from vision.dlibface import Engine, FaceResult
from vision.faceworker import analyse_frame, face_executor, prime
from vision.image import Frame
from vision.index import WatchHit, WatchlistIndex

log = logging.getLogger(__name__)

SCAN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # a lane client's nonce for one scan (pretix-style)


def check_scan_id(scan_id: str) -> str:
    """The scan id if well formed; ValueError naming the rule otherwise."""
    if not SCAN_ID.match(scan_id):
        raise ValueError("scan_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return scan_id


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Settings of one gate process (validated by the CLI)."""

    gate_id: str
    event_id: str
    server_url: str  # ws://host:port/ws/gate
    token: str
    journal_path: Path
    face_required: bool = True
    tolerance: float = 0.6  # 1:1 ticket holder match
    watch_threshold: float = 0.5  # 1:N screening, stricter
    watch_margin: float = 0.05
    detect_width: int = 480  # HOG on a 480-wide copy without upsampling: faces >= ~110 px in a 640 frame
    detect_upsample: int = 0  # (smaller faces are retried once at 640 with upsampling, see faces.analyse)
    workers: int = max(2, os.cpu_count() or 2)  # threads for QR decoding and 1:N search
    face_workers: int = 0  # 0: one face thread (dlib is not thread-safe); N: N worker processes
    face_engine: Engine = Engine.NUMPY  # descriptor network: numpy (fast) or dlib's own (same result)
    peers: dict[str, str] = field(default_factory=dict)  # other gate id -> ws URL of its /ws/peer


@dataclass
class GateCache:
    """Local copies that let the gate decide with no network."""

    keys: dict[int, Ed25519PublicKey] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    holders: dict[str, np.ndarray] = field(default_factory=dict)  # holder_ref -> 128-d encoding
    watchlist: WatchlistIndex = field(default_factory=WatchlistIndex)
    presence: dict[str, Stay] = field(default_factory=dict)  # ticket -> last known change, venue-wide
    entry_open: bool = True  # False once the commander closed the event's entry (exits only)
    peer_key: bytes = b""  # the event's secret for peer links (from the sync, persisted)
    version: int = 0  # list sync version of keys/revoked/holders/watchlist (watchlist.version follows it)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What the terminal shows and what was journaled."""

    event: GateEvent
    decision: Decision
    ticket: TicketCheck | None
    face_distance: float | None
    hits: tuple[Hit, ...]
    stage_ms: dict[str, float]
    inside_since: Stay | None = None  # ALREADY_INSIDE: where and when the ticket went in
    replayed: bool = False  # a retry of a scan id already decided: the first decision, nothing new


def _replayed(event: GateEvent) -> ScanResult:
    """The answer to a retried scan: the journaled first decision."""
    verdict = event.verdict or {EventKind.ENTRY: Verdict.ADMIT, EventKind.EXIT: Verdict.ADMIT,
                                EventKind.DENY: Verdict.DENY}.get(event.kind, Verdict.SECONDARY)
    return ScanResult(event, Decision(verdict, tuple(event.reasons)), None, None, (), {}, replayed=True)


class GateService:
    """Decides scans for one gate and keeps its journal flowing to the command server."""

    def __init__(self, cfg: GateConfig, cache: GateCache, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.cache = cache
        self.clock = clock
        self.cpu = ThreadPoolExecutor(cfg.workers, thread_name_prefix=f"gate-{cfg.gate_id}-cpu")
        self.io = ThreadPoolExecutor(1, thread_name_prefix=f"gate-{cfg.gate_id}-journal")
        self.faces = face_executor(cfg.face_workers, f"gate-{cfg.gate_id}", cfg.face_engine)
        self.journal = Journal(cfg.journal_path)
        self.lists = ListCache(cfg.journal_path.with_name(cfg.journal_path.name + ".lists"))
        self._load_lists()
        for ticket_id, stay in self.journal.presence().items():  # this gate's own, maybe newer
            self.cache.presence[ticket_id] = merge(self.cache.presence.get(ticket_id), stay)
        self.lanes_closed: set[int] = set()
        self.orders: dict[int, Order] = {}  # received, not yet acknowledged
        self.uplink = Uplink(cfg.server_url, cfg.token, self.journal, self.io,
                             on_message=self._on_server_message, hello=self._sync_request,
                             gate_id=cfg.gate_id, event_id=cfg.event_id)
        self.listeners: list[Callable[[ScanResult], Awaitable[None]]] = []
        self.sync_listeners: list[Callable[[ListSync], None]] = []  # told after a sync is applied
        self.presence_listeners: list[Callable[[PresenceChange], None]] = []  # told of own changes
        self.peers = PeerLinks(cfg.gate_id, cfg.event_id, cfg.peers, lambda: self.cache.peer_key)
        self.presence_listeners.append(self.peers.tell)
        self._task: asyncio.Task[None] | None = None
        self._hits_task: asyncio.Task[None] | None = None
        self._scanning: dict[str, asyncio.Future[ScanResult]] = {}  # scan id -> decision under way

    async def start(self) -> None:
        """Start streaming the journal to the server (also replays what is pending) and the peer links."""
        self._task = asyncio.create_task(self.uplink.run(), name=f"uplink-{self.cfg.gate_id}")
        self.peers.start()
        self._hits_task = asyncio.create_task(self._hits_loop(), name=f"hits-{self.cfg.gate_id}")

    async def stop(self) -> None:
        """Stop the uplink and peer links, release threads and the journal."""
        await self.peers.stop()
        for task in (self._task, self._hits_task):
            if task:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self.cpu.shutdown(wait=True)
        self.faces.shutdown(wait=True)
        self.io.shutdown(wait=True)
        self.journal.close()
        self.lists.close()

    async def _on_server_message(self, msg: ServerMessage) -> None:
        if isinstance(msg, HitAck):
            await asyncio.get_running_loop().run_in_executor(self.io, self.journal.mark_hit_sent,
                                                             msg.event_id, msg.entry_id)
        elif isinstance(msg, Order):
            await self.apply_order(msg)
        elif isinstance(msg, ListSync):
            await self.apply_sync(msg)
        else:
            log.debug("gate %s got %s", self.cfg.gate_id, type(msg).__name__)

    def _load_lists(self) -> None:
        """Merge the lists persisted by a previous run (a restarted gate needs no network)."""
        stored = self.lists.load()
        if stored.event_id not in ("", self.cfg.event_id):
            log.warning("gate %s: stored lists are for event %s; ignored", self.cfg.gate_id, stored.event_id)
            return
        c = self.cache
        for key_id, raw in stored.keys.items():
            c.keys.setdefault(key_id, tickets.load_public(raw))
        c.revoked |= stored.revoked
        c.entry_open = stored.entry_open
        c.peer_key = stored.peer_key or c.peer_key
        c.holders.update(stored.holders)
        for ticket_id, stay in stored.presence.items():
            c.presence[ticket_id] = merge(c.presence.get(ticket_id), stay)
        for entry in stored.watch:
            c.watchlist.add(entry)
        c.version = max(c.version, stored.version)
        c.watchlist.version = max(c.watchlist.version, stored.version)

    def _sync_request(self) -> SyncRequest:
        return SyncRequest(event_id=self.cfg.event_id, since_version=self.cache.version)

    async def apply_sync(self, msg: ListSync) -> bool:
        """Persist a list sync, then swap it into the cache; False if it does not follow on."""
        if msg.event_id != self.cfg.event_id or not applies(self.cache.version, msg):
            log.warning("gate %s: sync %d..%d skipped (have %d)", self.cfg.gate_id, msg.since_version,
                        msg.version, self.cache.version)
            return False
        await asyncio.get_running_loop().run_in_executor(self.io, self.lists.save, msg)
        keys: dict[int, Ed25519PublicKey] = {}
        for k in msg.keys:
            try:
                keys[k.key_id] = tickets.load_public(k.public_key)
            except ValueError:
                log.warning("gate %s: bad public key %d in sync", self.cfg.gate_id, k.key_id)
        c = self.cache
        revoked = set() if msg.full else set(c.revoked)
        holders = {} if msg.full else dict(c.holders)
        revoked.update(msg.revoked)
        for rid in msg.holders_removed:
            holders.pop(rid, None)
        for h in msg.holders_added:
            enc = decode_encoding(h.encoding)
            if enc is not None:
                holders[h.registration_id] = enc
        watch = watch_entries(msg.watch_added)
        if msg.full:  # a full sync replaces the watchlist (built aside, then swapped in below)
            watchlist = WatchlistIndex(watch, version=msg.version)
        else:  # removals then additions under the index's lock, all at once
            watchlist = c.watchlist
            if not watchlist.apply(msg.version, add=watch, remove=msg.watch_removed) and (
                    watch or msg.watch_removed):
                log.warning("gate %s: watchlist at %d ignored sync to %d", self.cfg.gate_id,
                            watchlist.version, msg.version)
        if msg.full:  # the server's whole picture, then this gate's own newer changes on top
            presence = {c.ticket_id: Stay(c.inside, c.gate_id, c.at) for c in msg.presence}
            for ticket_id, stay in (await asyncio.get_running_loop().run_in_executor(
                    self.io, self.journal.presence)).items():
                presence[ticket_id] = merge(presence.get(ticket_id), stay)
            c.presence = presence
        else:
            for pc in msg.presence:
                c.presence[pc.ticket_id] = merge(c.presence.get(pc.ticket_id), Stay(pc.inside, pc.gate_id, pc.at))
        if msg.entry_open is not None or msg.full:
            c.entry_open = msg.entry_open is not False
        if msg.peer_key:
            c.peer_key = msg.peer_key
        c.keys, c.revoked, c.holders, c.version = keys, revoked, holders, msg.version  # swapped at once
        c.watchlist = watchlist
        log.debug("gate %s: lists at version %d (%d revoked, %d holders, %d watched)", self.cfg.gate_id,
                  msg.version, len(revoked), len(holders), len(watchlist))
        for tell in list(self.sync_listeners):
            tell(msg)
        return True

    async def apply_order(self, order: Order) -> None:
        """Carry out a gate order (lanes open/close; divert is shown to staff) and acknowledge it."""
        lane = order.params.get("lane")
        if order.kind == "close_lane" and isinstance(lane, int):
            self.lanes_closed.add(lane)
        elif order.kind == "open_lane" and isinstance(lane, int):
            self.lanes_closed.discard(lane)
        self.orders[order.order_id] = order
        log.info("gate %s: order %d %s %s", self.cfg.gate_id, order.order_id, order.kind, order.params)
        if order.kind in ("close_lane", "open_lane"):  # carried out by the machine: ack at once
            await self.acknowledge_order(order.order_id, f"gate:{self.cfg.gate_id}")

    async def acknowledge_order(self, order_id: int, by: str) -> bool:
        """Confirm an order to the server (a divert is confirmed by staff at the terminal)."""
        if await self.uplink.send(OrderAck(order_id=order_id, by=by)):
            self.orders.pop(order_id, None)
            return True
        return False

    def _analyse(self, frame: Frame) -> asyncio.Future[FaceResult]:
        return asyncio.get_running_loop().run_in_executor(self.faces, analyse_frame, frame, self.cfg.detect_width,
                                                          self.cfg.detect_upsample, self.cfg.face_engine)

    async def _face_work(self, frame: Frame, holder: str | None,
                         analysing: asyncio.Future[FaceResult] | None = None
                         ) -> tuple[FaceCheck, tuple[Hit, ...], dict[str, float]]:
        loop = asyncio.get_running_loop()
        res = await (analysing if analysing is not None else self._analyse(frame))
        stage = {"detect": res.detect_ms, "encode": res.encode_ms}
        if res.encoding is None:
            return FaceCheck(problem=res.problem.value if res.problem else "no_face",
                             tolerance=self.cfg.tolerance), (), stage
        encoding = res.encoding
        registered = self.cache.holders.get(holder) if holder else None
        dist = faces.distance(encoding, registered) if registered is not None else None
        found: list[WatchHit] = []
        if len(self.cache.watchlist):
            t0 = time.perf_counter()
            found = await loop.run_in_executor(
                self.cpu, lambda: self.cache.watchlist.search(encoding, threshold=self.cfg.watch_threshold,
                                                              margin=self.cfg.watch_margin))
            stage["search"] = (time.perf_counter() - t0) * 1000
        hits = tuple(Hit(list_id=h.list_id, entry_id=h.entry_id, severity=h.severity,
                         distance=h.distance, ambiguous=h.ambiguous) for h in found)
        problem = res.problem.value if res.problem else None
        return FaceCheck(problem=problem, distance=dist, tolerance=self.cfg.tolerance), hits, stage

    async def warm_up(self) -> None:
        """Load the face models (in every worker) before the first real scan."""
        loop = asyncio.get_running_loop()
        n = max(1, self.cfg.face_workers)
        await asyncio.gather(*(loop.run_in_executor(self.faces, prime, self.cfg.face_engine) for _ in range(n)))

    async def scan(self, frame: Frame, *, lane: int = 0, direction: str = "entry",
                   captured_at: float | None = None, scan_id: str | None = None) -> ScanResult:
        """Decide one captured frame, journal the event, and notify listeners.

        `scan_id` is the client's nonce (the event id becomes `<gate>:<scan_id>`): a retry with
        the same id returns the first decision and records nothing new."""
        if scan_id is None:
            return await self._decide(frame, lane, direction, captured_at, uuid.uuid4().hex)
        check_scan_id(scan_id)
        under_way = self._scanning.get(scan_id)
        if under_way is not None:  # the same scan retried while it is being decided
            return replace(await asyncio.shield(under_way), replayed=True)
        fut: asyncio.Future[ScanResult] = asyncio.get_running_loop().create_future()
        self._scanning[scan_id] = fut  # before any await: a concurrent retry waits for this one
        try:
            event_id = f"{self.cfg.gate_id}:{scan_id}"
            done = await asyncio.get_running_loop().run_in_executor(self.io, self.journal.get, event_id)
            result = _replayed(done) if done is not None else await self._decide(
                frame, lane, direction, captured_at, scan_id)
            fut.set_result(result)
            return result
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: a waiter may not exist
            raise
        finally:
            self._scanning.pop(scan_id, None)

    async def _decide(self, frame: Frame, lane: int, direction: str, captured_at: float | None,
                      nonce: str) -> ScanResult:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        wants_face = self.cfg.face_required and direction == "entry"
        texts = await loop.run_in_executor(self.cpu, qr.decode, frame)
        stage = {"qr": (time.perf_counter() - t0) * 1000}
        now = self.clock()
        check: TicketCheck | None = None
        for text in texts:  # the first text that is an EventGuard ticket wins
            c = tickets.verify(text, keys=self.cache.keys, event_id=self.cfg.event_id,
                               gate_id=self.cfg.gate_id, now=now, revoked=self.cache.revoked,
                               inside=InsideView(self.cache.presence), direction=direction)
            if check is None or c.code is not tickets.TicketCode.BAD_FORMAT:
                check = c
            if c.code is not tickets.TicketCode.BAD_FORMAT:
                break
        face: FaceCheck | None = None
        hits: tuple[Hit, ...] = ()
        if wants_face and check is not None and check.ok:
            holder = check.ticket.holder_ref if check.ticket else None
            face, hits, fstage = await self._face_work(frame, holder)
            stage.update(fstage)
        decision = decide(check, face, hits, GateState(lane_open=lane not in self.lanes_closed,
                                                       face_required=self.cfg.face_required
                                                       and direction == "entry",
                                                       entry_open=self.cache.entry_open or direction == "exit"))
        kind = {Verdict.ADMIT: EventKind.ENTRY if direction == "entry" else EventKind.EXIT,
                Verdict.DENY: EventKind.DENY, Verdict.SECONDARY: EventKind.SECONDARY}[decision.verdict]
        latency = (time.perf_counter() - t0) * 1000
        event = GateEvent(
            event_id=f"{self.cfg.gate_id}:{nonce}", gate_id=self.cfg.gate_id, kind=kind,
            at=captured_at if captured_at is not None else now, lane=lane,
            ticket_id=check.ticket.ticket_id if check and check.ticket else None,
            verdict=decision.verdict, reasons=tuple(decision.reasons),
            latency_ms=round(latency, 2))
        await self.record(event)
        if hits:
            await self.report_hits(event, hits)
        since = (self.cache.presence.get(check.ticket.ticket_id)
                 if check and check.ticket and check.code is tickets.TicketCode.ALREADY_INSIDE else None)
        result = ScanResult(event, decision, check, face.distance if face else None, hits, stage, since)
        for listener in list(self.listeners):
            try:
                await listener(result)
            except Exception:  # a broken terminal page must not break the gate
                log.exception("listener failed")
        return result

    async def report_hits(self, event: GateEvent, hits: tuple[Hit, ...]) -> None:
        """Journal a WatchlistHitReport per hit, then send what is unsent (kept until sent)."""
        reports = [WatchlistHitReport(event_id=event.event_id, gate_id=self.cfg.gate_id, at=event.at,
                                      list_id=h.list_id, entry_id=h.entry_id, severity=h.severity,
                                      distance=h.distance, ticket_id=event.ticket_id) for h in hits]
        await asyncio.get_running_loop().run_in_executor(self.io, self.journal.add_hits, reports)
        await self.flush_hits()

    async def flush_hits(self) -> int:
        """Send journaled hit reports that wait for the server (new, or unconfirmed for 10 s) while
        the uplink is connected; the number sent. A report leaves the journal only on HitAck."""
        loop = asyncio.get_running_loop()
        sent = 0
        if not self.uplink.connected.is_set():
            return 0
        pending = await loop.run_in_executor(self.io, self.journal.hits_to_send, self.clock())
        for r in pending:
            if not await self.uplink.send(r):
                return sent
            await loop.run_in_executor(self.io, self.journal.mark_hit_tried, r.event_id, r.entry_id, self.clock())
            sent += 1
        return sent

    async def _hits_loop(self) -> None:
        """While connected, send the hit reports journaled while offline (checked every second)."""
        while True:
            await self.uplink.connected.wait()
            await self.flush_hits()  # cheap when nothing is pending
            await asyncio.sleep(1.0)

    async def record(self, event: GateEvent) -> None:
        """Journal an event durably, update the gate's view of presence, wake the uplink."""
        await asyncio.get_running_loop().run_in_executor(self.io, self.journal.append, event)
        if event.ticket_id and event.kind in (EventKind.ENTRY, EventKind.EXIT):
            _, after = step(self.cache.presence.get(event.ticket_id), event.kind, event.gate_id, event.at)
            if after is not None:
                self.cache.presence[event.ticket_id] = after
                change = PresenceChange(ticket_id=event.ticket_id, inside=after.inside, gate_id=after.gate_id,
                                        at=after.at)
                for tell in list(self.presence_listeners):
                    tell(change)
        self.uplink.notify()

    def learn_presence(self, changes: tuple[PresenceChange, ...]) -> int:
        """Merge presence changes told by a peer gate (newest wins); the number that changed."""
        n = 0
        for pc in changes:
            current = self.cache.presence.get(pc.ticket_id)
            merged = merge(current, Stay(pc.inside, pc.gate_id, pc.at))
            if merged is not current:
                self.cache.presence[pc.ticket_id] = merged
                n += 1
        return n
