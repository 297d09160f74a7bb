"""One gate: frames in, verdicts out; every event journaled first, then streamed uplink.

CPU work runs off the event loop: QR decoding and 1:N search in a bounded thread pool,
face detection and embedding in the face workers (vision/faceworker.py: one thread or
worker processes, each with its own engine), so the event loop only moves data. Journal
writes go through a single dedicated thread.

Faces: every entry scan is screened 1:N, whatever its ticket (none, forged, revoked: a hit
holds the person, gate/decide.py); the 1:1 check counts only for a valid ticket. The scanned frame first; the lane's recent frames (`offer`, or sent with the scan)
when they can change the outcome, the best of them then embedded and their distances fused
with the scanned face's (`_face_work`, vision/lane.py, vision.engine.fuse, vision/screen.py). Synced faces of another model than the gate's engine
are ignored, counted in `ignored_faces` and logged: never compared.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventguard import tickets
from eventguard.codes import StewardAction, StewardCode
from eventguard.config import LaneDirection, LaneRule
from eventguard.presence import InsideView, Stay, merge, step
from eventguard.tickets import TicketCheck
from eventguard.wire import (
    EventKind,
    GateEvent,
    HitAck,
    ListSync,
    Order,
    OrderAck,
    OrderCancelled,
    PresenceChange,
    ServerMessage,
    SyncRequest,
    WatchlistHitReport,
)
from gate import qr
from gate.checks import OpenCheck, Outcome, decision_event, resolve
from gate.decide import (
    Decision,
    FaceCheck,
    GateState,
    Hit,
    IdCheck,
    Verdict,
    decide,
    lane_reasons,
    zone_reasons,
)
from gate.idcheck import IdRead, id_check
from gate.journal import Journal
from gate.listcache import FaceFilter, HolderCard, ListCache, applies
from gate.peers import PeerLinks
from gate.uplink import Uplink
from vision import liveness
from vision.capture import crop_jpeg
from vision.engine import (
    DEFAULT_BAR,
    DEFAULT_ENGINE,
    EngineName,
    EngineSpec,
    Face,
    FaceProblem,
    FaceResult,
    QualityBar,
    Thresholds,
    fuse,
    spec,
)
from vision.errors import ImageError
from vision.faceworker import (
    EngineOptions,
    analyse_frames,
    analyse_recent,
    analyse_scan,
    face_executor,
    prime,
)
from vision.image import Frame, decode_bytes
from vision.index import WatchHit, WatchlistIndex
from vision.lane import BEST_FRAMES, LaneFaces, choose, to_embed
from vision.screen import frame_search_k, screen_frames, search_frames

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
    face_engine: EngineName = DEFAULT_ENGINE  # sface (default) | dlib-numpy | dlib (vision.engine)
    tolerance: float | None = None  # 1:1 distance to the ticket holder; None: the engine's verify threshold
    watch_threshold: float | None = None  # 1:N screening distance; None: the engine's screen threshold
    watch_margin: float = 0.05  # a hit within this of another candidate is ambiguous
    quality_bar: QualityBar = DEFAULT_BAR  # below it in every recent frame: to a steward
    best_frames: int = BEST_FRAMES  # a lane's frames embedded per scan (their distances fused)
    fuse_band: float = 0.1  # recent frames are fused when a distance lies this near a threshold
    #   (or the scanned face is below the quality bar); math.inf: always; 0: only for quality
    recent_s: float = 1.5  # a lane frame offered this long before the scan still counts
    recent_frames: int = 4  # at most this many recent frames per lane are kept
    detect_width: int | None = None  # detect on a copy this large; None: the engine's lane size
    #   (SFace 320 px; dlib's HOG 480 wide without upsampling: faces >= ~110 px in a 640 frame)
    detect_upsample: int = 0  # dlib: (smaller faces are retried once at 640 with upsampling)
    workers: int = max(2, os.cpu_count() or 2)  # threads for QR decoding and 1:N search
    face_workers: int = 0  # 0: one face thread; N: N worker processes (dlib is not thread-safe)
    peers: dict[str, str] = field(default_factory=dict)  # other gate id -> ws URL of its /ws/peer
    id_read_s: float = 30.0  # an ID read offered at the terminal serves the lane's next scan within this
    lane_rules: tuple[LaneRule, ...] = ()  # the venue's [[gates.lane]] rules for this gate (direction, kinds)
    default_direction: LaneDirection = LaneDirection.BOTH  # lanes without a rule (`gate run --direction`)
    refused_kinds: frozenset[str] = frozenset()  # badge kinds not accredited for this gate's zone

    def lane_rule(self, lane: int) -> LaneRule | None:
        """The lane's rule: the venue's, or the gate-wide direction for a lane the venue does not name."""
        rule = next((r for r in self.lane_rules if r.index == lane), None)
        if rule is None and self.default_direction is not LaneDirection.BOTH:
            rule = LaneRule(index=lane, direction=self.default_direction)
        return rule
    list_key_path: Path | None = None  # the key sealing the faces in the list file; None: beside it
    sight_every_s: float = 0.5  # a lane's camera frames without a ticket are screened 1:N at most this often
    sight_repeat_s: float = 30.0  # an entry seen again on the same lane within this is not reported again
    # issue 13, liveness from the scanned and recent frames (vision/liveness.py; to a steward, never a refusal):
    liveness_still: bool = True  # a still repeated (frozen feed, injected image): validated, on
    liveness_planar: bool = False  # a flat photo/screen moved: validated on attacks only (README), off
    embed_ahead: bool = True  # with 2+ face worker processes, embed the best recent frame beside the scanned
    #   one before knowing it is needed: a fused scan waits for no second embedding, the others spend ~20 ms
    #   of a worker for nothing (bench gate over 1M: p95 70-230 ms against 83-280 ms without, README)

    @property
    def liveness_checks(self) -> liveness.Checks:
        """The liveness signals this gate judges."""
        return liveness.Checks(still=self.liveness_still, planar=self.liveness_planar)

    @property
    def engine(self) -> EngineSpec:
        """The face engine's spec."""
        return spec(self.face_engine)

    @property
    def thresholds(self) -> Thresholds:
        """The engine's calibrated thresholds, with those this config sets instead."""
        return self.engine.thresholds.override(self.tolerance, self.watch_threshold, "gate configuration")

    @property
    def engine_options(self) -> EngineOptions:
        return EngineOptions(self.face_engine, self.detect_width or self.engine.lane_detect_px,
                             self.detect_upsample)


@dataclass
class GateCache:
    """Local copies that let the gate decide with no network."""

    keys: dict[int, Ed25519PublicKey] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    reissued: set[str] = field(default_factory=set)  # of revoked: replaced by a new ticket (refused as such)
    holders: dict[str, np.ndarray] = field(default_factory=dict)  # holder_ref -> the engine's embedding
    held: set[str] = field(default_factory=set)  # holder_refs held for screening review (to a steward)
    watchlist: WatchlistIndex = field(default_factory=WatchlistIndex)
    presence: dict[str, Stay] = field(default_factory=dict)  # ticket -> last known change, venue-wide
    entry_open: bool = True  # False once the commander closed the event's entry (exits only)
    evacuating: bool = False  # issue 20: this gate's zone is evacuated: free exit, no entry
    evacuation_note: str = ""
    peer_key: bytes = b""  # the event's secret for peer links (from the sync, persisted)
    stewards: dict[str, bytes] = field(default_factory=dict)  # steward -> PIN hash, this gate's (synced)
    id_key: bytes = b""  # the ID-number HMAC key (synced): 人证票合一 matches keyed hashes, never numbers
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
    face_frames: tuple[int, int] = (0, 0)  # frames assessed, frames embedded and fused
    face_box: tuple[float, float, float, float] | None = None  # the scanned frame's face (x, y, w, h) px


CHIP_MIN_WIDTH = 320  # px: a chip photo is enlarged to this before face detection


def _enlarged(photo: bytes) -> Frame:
    """A chip photo decoded (JPEG or PNG only, size-checked) and enlarged for the face detector."""
    frame = decode_bytes(photo)
    h, w = frame.shape[:2]
    if w < CHIP_MIN_WIDTH:
        scale = CHIP_MIN_WIDTH / w
        return np.asarray(cv2.resize(frame, (CHIP_MIN_WIDTH, round(h * scale)), interpolation=cv2.INTER_CUBIC),
                          dtype=np.uint8)
    return frame


def _replayed(event: GateEvent) -> ScanResult:
    """The answer to a retried scan: the journaled first decision."""
    verdict = event.verdict or {EventKind.ENTRY: Verdict.ADMIT, EventKind.EXIT: Verdict.ADMIT,
                                EventKind.DENY: Verdict.DENY}.get(event.kind, Verdict.SECONDARY)
    return ScanResult(event, Decision(verdict, tuple(event.reasons)), None, None, (), {}, replayed=True)


@dataclass(frozen=True, slots=True)
class _FaceWork:
    """A scan's face work under way (GateService._start_faces)."""

    frames: tuple[Frame, ...]  # the scanned frame first, then the lane's recent ones
    first: asyncio.Future[tuple[LaneFaces, liveness.Observation | None]]  # the scanned frame alone
    ahead: asyncio.Future[tuple[tuple[FaceResult, ...], tuple[liveness.Observation | None, ...]]] | None
    live: bool  # enough frames for liveness: judged on the observations of `first` and `ahead`


class GateService:
    """Decides scans for one gate and keeps its journal flowing to the command server."""

    def __init__(self, cfg: GateConfig, cache: GateCache, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.cache = cache
        self.clock = clock
        self.cpu = ThreadPoolExecutor(cfg.workers, thread_name_prefix=f"gate-{cfg.gate_id}-cpu")
        self.io = ThreadPoolExecutor(1, thread_name_prefix=f"gate-{cfg.gate_id}-journal")
        self.spec = cfg.engine
        self.thresholds = cfg.thresholds
        self.face_filter = FaceFilter(self.spec)
        self.ignored_faces = {"holders": 0, "watch": 0}  # synced faces of another model (or malformed)
        self.faces = face_executor(cfg.face_workers, f"gate-{cfg.gate_id}", cfg.engine_options)
        self.recent: dict[int, deque[tuple[float, Frame]]] = {}  # lane -> (capture time, frame)
        self.id_reads: dict[int, tuple[float, IdRead]] = {}  # lane -> (read time, ID read) for the next scan
        self.journal = Journal(cfg.journal_path)
        self.lists = ListCache(cfg.journal_path.with_name(cfg.journal_path.name + ".lists"), cfg.list_key_path)
        self._load_lists()
        for ticket_id, stay in self.journal.presence().items():  # this gate's own, maybe newer
            self.cache.presence[ticket_id] = merge(self.cache.presence.get(ticket_id), stay)
        self.checks: dict[str, OpenCheck] = {c.check_id: c for c in self.journal.open_checks()}
        # the holder's name and registered photo of each open check (from the sealed cards; memory only)
        self.check_cards: dict[str, HolderCard] = {
            c.check_id: card for c in self.checks.values()
            if c.holder_ref and (card := self.lists.card(c.holder_ref)) is not None}
        self.lanes_closed: set[int] = set()
        self.orders: dict[int, Order] = {}  # received, not yet acknowledged
        self.called_off_listeners: list[Callable[[OrderCancelled], Awaitable[None]]] = []  # the terminal
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
        self._sighting: dict[int, asyncio.Task[None]] = {}  # lane -> screening of a frame without a ticket
        self._last_sight: dict[int, float] = {}  # lane -> capture time of the last frame screened
        self._sighted: dict[tuple[int, str], float] = {}  # (lane, entry) -> when it was last reported

    async def start(self) -> None:
        """Start streaming the journal to the server (also replays what is pending) and the peer links."""
        self._task = asyncio.create_task(self.uplink.run(), name=f"uplink-{self.cfg.gate_id}")
        self.peers.start()
        self._hits_task = asyncio.create_task(self._hits_loop(), name=f"hits-{self.cfg.gate_id}")

    async def stop(self) -> None:
        """Stop the uplink and peer links, release threads and the journal."""
        await self.peers.stop()
        for sighting in list(self._sighting.values()):
            sighting.cancel()
        await asyncio.gather(*self._sighting.values(), return_exceptions=True)
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
        elif isinstance(msg, OrderCancelled):
            await self.call_off(msg)
        elif isinstance(msg, ListSync):
            await self.apply_sync(msg)
        else:
            log.debug("gate %s got %s", self.cfg.gate_id, type(msg).__name__)

    def _ignored(self, holders: int, watch: int, where: str) -> None:
        if holders or watch:
            self.ignored_faces["holders"] += holders
            self.ignored_faces["watch"] += watch
            log.warning("gate %s: %s: ignored %d holder and %d watchlist faces not made by %s "
                        "(another model, or malformed); they are never compared", self.cfg.gate_id,
                        where, holders, watch, self.spec.model_id)

    def _load_lists(self) -> None:
        """Merge the lists persisted by a previous run (a restarted gate needs no network)."""
        stored = self.lists.load(self.face_filter)
        self._ignored(stored.ignored_holders, stored.ignored_watch, "stored lists")
        if stored.event_id not in ("", self.cfg.event_id):
            log.warning("gate %s: stored lists are for event %s; ignored", self.cfg.gate_id, stored.event_id)
            return
        c = self.cache
        for key_id, raw in stored.keys.items():
            c.keys.setdefault(key_id, tickets.load_public(raw))
        c.revoked |= stored.revoked
        c.reissued |= stored.reissued
        c.entry_open = stored.entry_open
        c.evacuating, c.evacuation_note = stored.evacuating, stored.evacuation_note  # issue 20
        c.peer_key = stored.peer_key or c.peer_key
        c.stewards = dict(stored.stewards) or c.stewards
        c.id_key = stored.id_key or c.id_key
        c.holders.update(stored.holders)
        c.held |= stored.held
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
        reissued = (set() if msg.full else set(c.reissued)) | set(msg.reissued)
        added, other_holders = self.face_filter.holders(msg.holders_added)
        for rid in (*msg.holders_removed, *other_holders):  # a face now of another model is gone here
            holders.pop(rid, None)
        holders.update(added)
        held = set() if msg.full else set(c.held)
        held.difference_update(msg.holders_removed, (h.registration_id for h in msg.holders_added))
        held.update(msg.held)
        watch, other_watch = self.face_filter.watch_entries(msg.watch_added)
        self._ignored(len(other_holders), len(other_watch), f"sync to {msg.version}")
        if msg.full:  # a full sync replaces the watchlist (built aside, then swapped in below)
            watchlist = WatchlistIndex(watch, version=msg.version)
        else:  # removals then additions under the index's lock, all at once
            watchlist = c.watchlist
            removed = (*msg.watch_removed, *other_watch)
            if not watchlist.apply(msg.version, add=watch, remove=removed) and (
                    watch or removed):
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
        if msg.evacuating is not None or msg.full:  # issue 20
            c.evacuating = bool(msg.evacuating)
            c.evacuation_note = msg.evacuation_note if c.evacuating else ""
        if msg.peer_key:
            c.peer_key = msg.peer_key
        if msg.stewards is not None:
            c.stewards = {p.steward: p.pin_hash for p in msg.stewards}
        if msg.id_key:
            c.id_key = msg.id_key
        c.keys, c.revoked, c.holders, c.held, c.version = keys, revoked, holders, held, msg.version  # at once
        c.reissued = reissued
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

    async def call_off(self, msg: OrderCancelled) -> None:
        """Command called off one of this gate's orders (a divert or hold): staff no longer act on
        it, pending or acknowledged; the terminal is told (it drops it if it shows it). Re-sent on
        every connection: one this gate never had changes nothing."""
        if msg.target != self.cfg.gate_id:
            return
        if self.orders.pop(msg.order_id, None) is not None:
            log.info("gate %s: order %d %s called off", self.cfg.gate_id, msg.order_id, msg.kind)
        for tell in list(self.called_off_listeners):
            await tell(msg)

    async def acknowledge_order(self, order_id: int, by: str) -> bool:
        """Confirm an order to the server (a divert is confirmed by staff at the terminal)."""
        if await self.uplink.send(OrderAck(order_id=order_id, by=by)):
            self.orders.pop(order_id, None)
            return True
        return False

    def offer(self, frame: Frame, *, lane: int = 0, at: float | None = None) -> None:
        """Keep a lane camera frame that showed no ticket: the next scan on that lane may use
        its face (only the newest `recent_frames`, none older than `recent_s`)."""
        buf = self.recent.setdefault(lane, deque(maxlen=max(1, self.cfg.recent_frames)))
        when = self.clock() if at is None else at
        buf.append((when, frame))
        self._sight(frame, lane, when)

    def _sight(self, frame: Frame, lane: int, at: float) -> None:
        """Screen a face the lane camera sees without a ticket (someone with none is screened too):
        at most one frame per lane at a time and per `sight_every_s`; frames arriving meanwhile are
        dropped, not queued."""
        if not len(self.cache.watchlist) or lane in self._sighting:
            return
        if at - self._last_sight.get(lane, -math.inf) < self.cfg.sight_every_s:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # offered from outside the gate's loop (a tool): nothing to screen with
            return
        self._last_sight[lane] = at
        task = loop.create_task(self._screen_sighting(frame, lane, at), name=f"sight-{self.cfg.gate_id}-{lane}")
        self._sighting[lane] = task
        task.add_done_callback(functools.partial(self._sighted_done, lane))

    def _sighted_done(self, lane: int, _task: asyncio.Task[None]) -> None:
        self._sighting.pop(lane, None)

    async def _screen_sighting(self, frame: Frame, lane: int, at: float) -> None:
        """1:N on one frame without a ticket; a hit is journaled and reported like a scan's (with its
        capture) — no verdict, since nobody presented anything; a face matching no entry is dropped."""
        loop = asyncio.get_running_loop()
        try:
            seen = (await self._analyse((frame,))).scan
            if seen.embedding is None or seen.problem not in (None, FaceProblem.MULTIPLE_FACES):
                return  # no usable face (a crowd frame: its largest face is screened)
            emb, index = seen.embedding, self.cache.watchlist
            found = await loop.run_in_executor(self.cpu, lambda: screen_frames(
                index, self.spec, [emb], threshold=self.thresholds.screen, margin=self.cfg.watch_margin))
            fresh = [h for h in found
                     if at - self._sighted.get((lane, h.entry_id), -math.inf) >= self.cfg.sight_repeat_s]
            if not fresh:
                return
            for h in fresh:
                self._sighted[(lane, h.entry_id)] = at
            capture = (await loop.run_in_executor(self.cpu, crop_jpeg, frame, seen.face)
                       if seen.face is not None else None)
            hits = tuple(Hit(list_id=h.list_id, entry_id=h.entry_id, severity=h.severity, distance=h.distance,
                             ambiguous=h.ambiguous) for h in fresh)
            log.info("gate %s lane %d: watchlist candidate seen without a ticket (%d)", self.cfg.gate_id, lane,
                     len(hits))
            await self.report_hits(f"{self.cfg.gate_id}:sight-{uuid.uuid4().hex}", at, None, hits, capture)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed sighting must never disturb the lane
            log.exception("gate %s lane %d: sighting not screened", self.cfg.gate_id, lane)

    def _recent(self, lane: int, at: float) -> list[Frame]:
        """The lane's recent frames for a scan captured at `at`, newest first (taken: a frame
        serves one scan)."""
        buf = self.recent.pop(lane, None)
        if not buf:
            return []
        return [f for t, f in reversed(buf) if at - self.cfg.recent_s <= t <= at + 0.05]

    # ---- 人证票合一 (gate/idcheck.py) ------------------------------------------------------------

    def offer_id(self, read: IdRead, *, lane: int = 0, at: float | None = None) -> None:
        """Keep an ID document read at the terminal for the lane's next scan (within `id_read_s`)."""
        self.id_reads[lane] = (self.clock() if at is None else at, read)

    def _take_id(self, lane: int, at: float) -> IdRead | None:
        """The lane's pending ID read for a scan at `at` (taken: a read serves one scan)."""
        found = self.id_reads.pop(lane, None)
        if found is None or not found[0] - 0.05 <= at <= found[0] + self.cfg.id_read_s:
            return None
        return found[1]

    async def _id_check(self, read: IdRead, ticket: TicketCheck, live: list[np.ndarray],
                        stage: dict[str, float]) -> IdCheck:
        """The read against the ticket holder's registered ID hash (from the sealed card) and,
        when the card gave a chip photo and the live face was embedded, the photo against the face."""
        loop = asyncio.get_running_loop()
        holder = ticket.ticket.holder_ref if ticket.ticket else None
        card = await loop.run_in_executor(self.io, self.lists.card, holder) if holder else None
        distance = None
        if read.photo and live:
            t0 = time.perf_counter()
            chip = await self._chip_embedding(read.photo)
            stage["id_photo"] = (time.perf_counter() - t0) * 1000
            if chip is not None:
                distance = fuse([self.spec.distance(e, chip) for e in live])
        return id_check(read, key=self.cache.id_key, registered=card.id_hash if card else None,
                        photo_distance=distance, photo_tolerance=self.thresholds.verify)

    async def _chip_embedding(self, photo: bytes) -> np.ndarray | None:
        """The face of an ID card's chip photo (about 102 x 126 px: enlarged first), or None."""
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(self.cpu, _enlarged, photo)
        except ImageError as err:
            log.info("gate %s: chip photo not compared (%s)", self.cfg.gate_id, err)
            return None
        faces = await loop.run_in_executor(self.faces, analyse_frames, (frame,), self.cfg.engine_options, None,
                                           1, None)
        return faces.scan.embedding

    def _analyse(self, frames: Sequence[Frame], scan: FaceResult | None = None,
                 recent: tuple[FaceResult, ...] | None = None) -> asyncio.Future[LaneFaces]:
        return asyncio.get_running_loop().run_in_executor(
            self.faces, analyse_frames, tuple(frames), self.cfg.engine_options, self.cfg.quality_bar,
            self.cfg.best_frames, scan, recent)

    def _start_faces(self, frames: Sequence[Frame]) -> _FaceWork:
        """Start the face work of a scan (before its QR code is read): the scanned frame on one
        face worker and the recent frames (assessed, their liveness observations; the best one
        embedded too with `embed_ahead`) on another, so that fusing or judging liveness adds
        little to the latency."""
        loop = asyncio.get_running_loop()
        checks = self.cfg.liveness_checks
        live = checks.any and len(frames) >= checks.min_frames
        opts, bar = self.cfg.engine_options, self.cfg.quality_bar
        first = loop.run_in_executor(self.faces, analyse_scan, frames[0], opts, bar, live)
        ahead = None
        if len(frames) > 1 and (self.cfg.face_workers >= 2 or live):
            embed = max(1, self.cfg.best_frames - 1) if self.cfg.embed_ahead and self.cfg.face_workers >= 2 else 0
            ahead = loop.run_in_executor(self.faces, analyse_recent, tuple(frames[1:]), opts, bar, embed, live)
        return _FaceWork(tuple(frames), first, ahead, live)

    async def _face_work(self, work: _FaceWork, holder: str | None,
                         ) -> tuple[FaceCheck, tuple[Hit, ...], dict[str, float], tuple[int, int],
                                    Face | None, list[np.ndarray]]:
        """1:1 against the holder and 1:N against the watchlists; the stage times, (frames
        assessed, frames used), the scanned frame's face (its box: the steward's crop and a hit's
        capture) and the live embeddings used.

        First the scanned frame alone. The lane's recent frames count only when they can
        change the outcome (`fuse_band`): the scanned face is below the quality bar, its 1:1
        distance lies within fuse_band of the verify threshold, or some watchlist entry lies
        within screen + fuse_band. Then the best of them are fused with it (vision/lane.py).
        A clear score is decided on one frame. The recent frames' work was started beside the
        scanned frame's (`_start_faces`); liveness is judged on it when there are enough frames.
        The faces a scan fuses are searched in one index call (vision.screen.search_frames): the
        scanned face's search, which decides whether to fuse, takes the recent face embedded ahead
        along when it is at hand, and the fused screening reuses both searches. When the faces to
        fuse were embedded ahead they are chosen here (vision.lane.choose), not by a face worker."""
        try:
            return await self._face_work_on(work, holder)
        finally:
            for fut in (work.first, work.ahead):
                if fut is not None and not fut.done():
                    fut.cancel()

    async def _face_work_on(self, work: _FaceWork, holder: str | None,
                            ) -> tuple[FaceCheck, tuple[Hit, ...], dict[str, float], tuple[int, int],
                                       Face | None, list[np.ndarray]]:
        loop = asyncio.get_running_loop()
        th, band, index = self.thresholds, self.cfg.fuse_band, self.cache.watchlist
        frames = work.frames
        lane, scan_seen = await work.first
        stage = {"detect": lane.detect_ms, "encode": lane.encode_ms}
        registered = self.cache.holders.get(holder) if holder else None
        near: list[WatchHit] | None = None  # entries within screen + band of the scanned face
        searched: list[tuple[np.ndarray, list[WatchHit]]] = []  # embeddings searched already, their hits
        recent: tuple[FaceResult, ...] | None = None  # the recent frames' results, once awaited
        first = lane.scan.embedding
        if len(frames) > 1 and first is not None and lane.problem in (None, FaceProblem.FACE_POOR_QUALITY):
            fuse_now = lane.problem is FaceProblem.FACE_POOR_QUALITY
            if registered is not None and abs(self.spec.distance(first, registered) - th.verify) <= band:
                fuse_now = True
            if not fuse_now and len(index):
                # The scanned face's search decides whether to fuse. The recent faces embedded
                # ahead go into the same call when they are at hand: liveness waits for them
                # anyway (3+ frames), or they are done. Searching the scanned face alone at once
                # instead (while the recent work ends) was measured no faster: on 2 cores that
                # search slows the face worker, and at 1M entries nearly every scan fuses (the
                # look-alikes within screen + band), so its recent face is searched after all.
                batch = [first]
                if work.ahead is not None and (work.live or work.ahead.done()):
                    recent = await self._await_ahead(work, stage)
                    batch += [r.embedding for r in recent if r.embedding is not None]
                t0 = time.perf_counter()
                wide = max(th.screen + band, th.screen + self.cfg.watch_margin)  # reused by the fused search
                per_frame = await loop.run_in_executor(self.cpu, lambda: search_frames(
                    index, self.spec, batch, threshold=wide, top_k=frame_search_k()))
                stage["search"] = (time.perf_counter() - t0) * 1000
                searched = list(zip(batch, per_frame, strict=True))
                near = [h for h in per_frame[0] if h.distance <= th.screen + band]
                fuse_now = bool(near)
            if fuse_now:
                near = None
                if recent is None and work.ahead is not None:
                    recent = await self._await_ahead(work, stage)
                assessed = (lane.scan, *recent) if recent is not None else None
                if assessed is not None and not to_embed(assessed, self.cfg.best_frames):
                    # every face to fuse is embedded (ahead): chosen here, no round trip of the
                    # frames to a face worker (7 ms median in bench gate over 1M)
                    used, why = choose(self.spec, assessed, self.cfg.best_frames)
                    lane = LaneFaces(self.spec.model_id, len(frames), used, why, lane.scan, 0.0, 0.0)
                else:
                    lane = await self._analyse(frames, scan=lane.scan, recent=recent)
                    stage["detect"] += lane.detect_ms
                    stage["encode"] += lane.encode_ms
        counts = (lane.frames, len(lane.used))
        embeddings = [r.embedding for r in lane.used if r.embedding is not None]
        spoof = None
        if work.live and work.ahead is not None:
            t0 = time.perf_counter()
            spoof = liveness.judge((scan_seen, *(await work.ahead)[1]), self.cfg.liveness_checks)
            stage["liveness"] = (time.perf_counter() - t0) * 1000  # the wait beyond the 1:1 work
        if not embeddings:
            problem = lane.problem.value if lane.problem else "no_face"
            return FaceCheck(problem=problem, tolerance=th.verify), (), stage, counts, None, []
        dist = (fuse([self.spec.distance(e, registered) for e in embeddings])
                if registered is not None else None)
        found: list[WatchHit] = []
        if len(index) and near != []:  # (no entry within screen + band: no hit, no second search)
            t0 = time.perf_counter()
            known = [next((hits for e, hits in searched if e is emb or np.array_equal(e, emb)), None)
                     for emb in embeddings]  # searched above: not again (the others in one call)
            found = await loop.run_in_executor(
                self.cpu, lambda: screen_frames(index, self.spec, embeddings, threshold=th.screen,
                                                margin=self.cfg.watch_margin, searched=known))
            stage["search"] = stage.get("search", 0.0) + (time.perf_counter() - t0) * 1000
        hits = tuple(Hit(list_id=h.list_id, entry_id=h.entry_id, severity=h.severity,
                         distance=h.distance, ambiguous=h.ambiguous) for h in found)
        return FaceCheck(problem=lane.problem.value if lane.problem else None, distance=dist,
                         tolerance=th.verify, liveness=spoof.value if spoof else None), hits, stage, counts, \
            lane.scan.face, embeddings

    async def _await_ahead(self, work: _FaceWork, stage: dict[str, float]) -> tuple[FaceResult, ...]:
        """The recent frames' results from `_start_faces` (waited for once; their time counted)."""
        assert work.ahead is not None
        t0 = time.perf_counter()
        recent = (await work.ahead)[0]
        stage["ahead_wait"] = (time.perf_counter() - t0) * 1000
        stage["detect"] += sum(r.detect_ms for r in recent)
        stage["encode"] += sum(r.encode_ms for r in recent)
        return recent

    async def warm_up(self) -> None:
        """Load the face models (in every worker) before the first real scan."""
        loop = asyncio.get_running_loop()
        n = max(1, self.cfg.face_workers)
        await asyncio.gather(*(loop.run_in_executor(self.faces, prime, self.cfg.engine_options)
                               for _ in range(n)))

    async def scan(self, frame: Frame, *, lane: int = 0, direction: str = "entry",
                   captured_at: float | None = None, scan_id: str | None = None,
                   recent: Sequence[Frame] | None = None, id_read: IdRead | None = None) -> ScanResult:
        """Decide one captured frame, journal the event, and notify listeners.

        The face check also looks at `recent` frames of the same person (the lane client's),
        or else at the frames `offer`ed on this lane just before. `scan_id` is the client's
        nonce (the event id becomes `<gate>:<scan_id>`): a retry with the same id returns the
        first decision and records nothing new. `id_read`: an ID document read with the scan
        (人证票合一), or else the one `offer_id`ed on this lane just before."""
        at = captured_at if captured_at is not None else self.clock()
        if recent is None:
            recent = self._recent(lane, at)
        if id_read is None:
            id_read = self._take_id(lane, at)
        if scan_id is None:
            return await self._decide(frame, lane, direction, captured_at, uuid.uuid4().hex, recent, id_read)
        check_scan_id(scan_id)
        under_way = self._scanning.get(scan_id)
        if under_way is not None:  # the same scan retried while it is being decided
            return replace(await asyncio.shield(under_way), replayed=True)
        # registered before the first await: a retry arriving while the journal is read waits here
        fut: asyncio.Future[ScanResult] = asyncio.get_running_loop().create_future()
        self._scanning[scan_id] = fut  # before any await: a concurrent retry waits for this one
        try:
            event_id = f"{self.cfg.gate_id}:{scan_id}"
            done = await asyncio.get_running_loop().run_in_executor(self.io, self.journal.get, event_id)
            result = (_replayed(done) if done is not None
                      else await self._decide(frame, lane, direction, captured_at, scan_id, recent, id_read))
            fut.set_result(result)
            return result
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: a waiter may not exist
            raise
        finally:
            self._scanning.pop(scan_id, None)

    async def _decide(self, frame: Frame, lane: int, direction: str, captured_at: float | None,
                      nonce: str, recent: Sequence[Frame] = (), id_read: IdRead | None = None) -> ScanResult:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        wants_face = self.cfg.face_required and direction == "entry"
        work = self._start_faces((frame, *recent)) if wants_face else None  # beside the QR decoding
        try:
            texts = await loop.run_in_executor(self.cpu, qr.decode, frame)
        except BaseException:
            for fut in (work.first, work.ahead) if work is not None else ():
                if fut is not None:
                    fut.cancel()
            raise
        stage = {"qr": (time.perf_counter() - t0) * 1000}
        now = self.clock()
        check: TicketCheck | None = None
        for text in texts:  # the first text that is an EventGuard ticket wins
            c = tickets.verify(text, keys=self.cache.keys, event_id=self.cfg.event_id,
                               gate_id=self.cfg.gate_id, now=now, revoked=self.cache.revoked,
                               inside=InsideView(self.cache.presence), direction=direction,
                               reissued=self.cache.reissued)
            if check is None or c.code is not tickets.TicketCode.BAD_FORMAT:
                check = c
            if c.code is not tickets.TicketCode.BAD_FORMAT:
                break
        state = GateState(lane_open=lane not in self.lanes_closed,
                          face_required=self.cfg.face_required and direction == "entry",
                          entry_open=self.cache.entry_open or direction == "exit", direction=direction,
                          lane_rule=self.cfg.lane_rule(lane), refused_kinds=self.cfg.refused_kinds,
                          evacuating=self.cache.evacuating)
        lane_refuses = bool(lane_reasons(state, check) or zone_reasons(state, check))
        if lane_refuses:  # the lane does not serve this scan: no 1:1 check (the face is still screened 1:N)
            state = replace(state, face_required=False)
        face: FaceCheck | None = None
        hits: tuple[Hit, ...] = ()
        counts = (0, 0)
        box: Face | None = None
        live: list[np.ndarray] = []
        if wants_face:  # 1:N screens every face at the lane, whatever the ticket says
            valid = check is not None and check.ok and not lane_refuses
            holder = check.ticket.holder_ref if valid and check and check.ticket else None
            assert work is not None
            seen, hits, fstage, counts, box, live = await self._face_work(work, holder)
            stage.update(fstage)
            face = seen if valid else None  # the 1:1 check means something only for a valid ticket
        identity = None
        if id_read is not None and direction == "entry" and check is not None and check.ok:
            identity = await self._id_check(id_read, check, live if face is not None else [], stage)
        held = bool(check and check.ok and check.ticket and check.ticket.holder_ref in self.cache.held)
        decision = decide(check, face, hits, state, identity, held=held and direction == "entry")
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
            capture = (await loop.run_in_executor(self.cpu, crop_jpeg, frame, box)
                       if box is not None else None)
            await self.report_hits(event.event_id, event.at, event.ticket_id, hits, capture)
        since = (self.cache.presence.get(check.ticket.ticket_id)
                 if check and check.ticket and check.code is tickets.TicketCode.ALREADY_INSIDE else None)
        result = ScanResult(event, decision, check, face.distance if face else None, hits, stage, since,
                            face_frames=counts, face_box=(box.x, box.y, box.w, box.h) if box is not None else None)
        for listener in list(self.listeners):
            try:
                await listener(result)
            except Exception:  # a broken terminal page must not break the gate
                log.exception("listener failed")
        return result

    async def report_hits(self, event_id: str, at: float, ticket_id: str | None, hits: tuple[Hit, ...],
                          capture: bytes | None = None) -> None:
        """Journal a WatchlistHitReport per hit (of a scan's event, or of a sighting), with the
        screen threshold in force and the face crop for the reviewer, then send what is unsent
        (kept until sent)."""
        reports = [WatchlistHitReport(event_id=event_id, gate_id=self.cfg.gate_id, at=at,
                                      list_id=h.list_id, entry_id=h.entry_id, severity=h.severity,
                                      distance=h.distance, ticket_id=ticket_id,
                                      threshold=self.thresholds.screen, capture=capture,
                                      model_id=self.spec.model_id) for h in hits]
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
        self._journaled(event)

    def _journaled(self, event: GateEvent) -> None:
        """After an event is in the journal: presence (and who is told of it), the uplink."""
        if event.ticket_id and event.kind in (EventKind.ENTRY, EventKind.EXIT):
            _, after = step(self.cache.presence.get(event.ticket_id), event.kind, event.gate_id, event.at)
            if after is not None:
                self.cache.presence[event.ticket_id] = after
                change = PresenceChange(ticket_id=event.ticket_id, inside=after.inside, gate_id=after.gate_id,
                                        at=after.at)
                for tell in list(self.presence_listeners):
                    tell(change)
        self.uplink.notify()

    # ---- secondary checks (gate/checks.py) -------------------------------------------------

    async def open_check(self, result: ScanResult, capture: str | None) -> OpenCheck | None:
        """Keep a SECONDARY scan as an open check (journaled) until a steward decides it."""
        ev = result.event
        if result.decision.verdict is not Verdict.SECONDARY or result.replayed or ev.event_id in self.checks:
            return None
        ticket = result.ticket.ticket if result.ticket else None
        holder = ticket.holder_ref if ticket else None
        check = OpenCheck(check_id=ev.event_id, gate_id=ev.gate_id, lane=ev.lane, at=ev.at, reasons=ev.reasons,
                          ticket_id=ev.ticket_id, ticket_kind=ticket.kind if ticket else None, capture=capture,
                          face_distance=result.face_distance, holder_ref=holder)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.io, self.journal.open_check, check)
        card = await loop.run_in_executor(self.io, self.lists.card, holder) if holder else None
        if card is not None:
            self.check_cards[check.check_id] = card
        self.checks[check.check_id] = check
        return check

    async def decide_check(self, check_id: str, action: StewardAction, code: StewardCode, *, steward: str,
                           note: str = "") -> tuple[Outcome, GateEvent | None]:
        """A steward's decision on an open check: journaled as a GateEvent carrying the steward
        (to the server through the uplink, exactly once like every event), or refused."""
        check = self.checks.get(check_id)
        ticket = check.ticket_id if check else None
        outcome = resolve(check, action, code, steward=steward,
                          inside=ticket is not None and ticket in InsideView(self.cache.presence),
                          revoked=ticket is not None and ticket in self.cache.revoked,
                          entry_open=self.cache.entry_open)
        if check is None or outcome.refusal is not None:
            return outcome, None
        event = decision_event(check, outcome, action, code, steward=steward, note=note, now=self.clock(),
                               nonce=uuid.uuid4().hex[:12])
        if outcome.check is None:
            self.checks.pop(check_id, None)  # before the await: a second click finds it decided
            self.check_cards.pop(check_id, None)
        try:
            new = await asyncio.get_running_loop().run_in_executor(self.io, self.journal.decide_check, event,
                                                                   outcome.check)
        except BaseException:
            self.checks.setdefault(check_id, check)  # not journaled: still open
            raise
        if outcome.check is not None:
            self.checks[check_id] = outcome.check
        if new:
            self._journaled(event)
        log.info("gate %s: check %s %s by steward %s (%s)", self.cfg.gate_id, check_id, action.value, steward,
                 code.value)
        return outcome, event

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
