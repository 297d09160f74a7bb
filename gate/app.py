"""The gate's own web app: POST /scan, GET /api/state, the terminal page and /ws/terminal.

create_gate_app(service, cfg) owns the GateService lifecycle (uplink started on startup,
threads and journal released on cleanup) and, when given a frame source, a loop feeding it.
Every route except the page itself needs the local terminal token (bearer header, the
`eg_terminal` cookie set by `/?token=...`, or `?token=` on the websocket only). Errors are JSON
with a stable code; a client never sees a stack trace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hmac
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import cv2
import msgspec
from aiohttp import WSMsgType, web
from aiohttp.web_request import FileField

from eventguard.browser import SECURITY_HEADERS, needs_origin_check, same_origin
from eventguard.codes import Verdict
from eventguard.errors import ConfigError, WireError
from eventguard.presence import InsideView
from eventguard.settings import WEB_DIR
from eventguard.steward import SALT_BYTES, hash_pin, verify_pin
from eventguard.wire import (
    DecisionBody,
    ErrorMsg,
    IdReadBody,
    LaneCount,
    ListSync,
    Msg,
    OrderAck,
    PeerPresence,
    ScanQuery,
    StewardLoginBody,
    TerminalChecks,
    TerminalHit,
    TerminalStatus,
    TerminalVerdict,
    decode_body,
    decode_gate_message,
    decode_peer_message,
    decode_query,
    encode,
)
from gate import qr
from gate.errors import Overloaded, SourceError
from gate.idcheck import IdRead, IdReadError, read_frame, read_number
from gate.peers import authenticate
from gate.service import GateCache, GateConfig, GateService, ScanResult
from gate.signin import SignIns
from gate.sources import CaptureSource, FolderSource
from vision.errors import ImageError
from vision.image import MAX_BYTES, Frame, decode_bytes

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE = "eg_terminal"
STEWARD_COOKIE = "eg_steward"  # a steward's session at this terminal (gate/signin.py)
_NO_PIN = hash_pin("not-a-pin", bytes(SALT_BYTES))  # checked for an unknown steward: same timing
HEADER_TIMEOUT_S = 10.0  # a connection must send a whole request head within this (slowloris)
_OPEN_PATHS = frozenset({"/", "/api/health", "/ws/peer"})  # /ws/peer checks its own credential


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """Settings of the gate's local web app (validated by the CLI)."""

    token: str  # the local terminal token (from a 0600 file)
    max_upload_bytes: int = MAX_BYTES
    web_dir: Path = WEB_DIR
    thumb_width: int = 160
    source_lane: int = 0
    repeat_s: float = 5.0  # a camera showing the same QR again within this is not rescanned
    max_in_flight: int = 4  # scans at once through POST /scan (upload, decoded frame, verdict)


class Admission:
    """At most `limit` uploaded scans in progress, from reading the body to the verdict; one
    more is refused at once rather than queued, so a burst never piles up uploads and decoded
    frames in memory or waits behind them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for one scan (Overloaded when none is free)."""
        if self.in_flight >= self.limit:
            raise Overloaded(f"{self.in_flight} scans in progress")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class Terminal:
    """The scan path of the app and the terminal pages listening to it."""

    def __init__(self, service: GateService, cfg: TerminalConfig) -> None:
        self.service = service
        self.cfg = cfg
        self.clients: set[web.WebSocketResponse] = set()
        self.last: TerminalVerdict | None = None
        self._status: TerminalStatus | None = None
        self._orders_shown: set[int] = set()
        self.signins = SignIns(clock=time.monotonic)
        self._pins = dict(service.cache.stewards)
        service.sync_listeners.append(self._on_sync)
        service.called_off_listeners.append(self.broadcast)  # the page drops a called-off order at once

    def _on_sync(self, msg: ListSync) -> None:
        """A steward whose PIN was withdrawn or replaced is signed out."""
        now = self.service.cache.stewards
        for steward, pin_hash in self._pins.items():
            if now.get(steward) != pin_hash:
                self.signins.close_steward(steward)
        self._pins = dict(now)

    def checks_msg(self) -> TerminalChecks:
        """The open checks, oldest first, each with the holder's name and registered photo when the
        gate has them (synced only to gates that may admit the holder)."""
        cards = self.service.check_cards
        out = []
        for c in sorted(self.service.checks.values(), key=lambda c: c.at):
            card = cards.get(c.check_id)
            photo = ("data:image/jpeg;base64," + base64.b64encode(card.photo).decode()
                     if card is not None and card.photo.startswith(b"\xff\xd8") else None)
            out.append(c.view(card.name or None if card else None, photo))
        return TerminalChecks(checks=tuple(out))

    async def scan(self, frame: Frame, *, lane: int = 0, direction: str = "entry",
                   captured_at: float | None = None, scan_id: str | None = None,
                   recent: Sequence[Frame] | None = None, id_read: IdRead | None = None) -> ScanResult:
        """Decide a frame with the gate service and push the verdict to every terminal page
        (a retried scan id is answered from the journal and not pushed again)."""
        result = await self.service.scan(frame, lane=lane, direction=direction, captured_at=captured_at,
                                         scan_id=scan_id, recent=recent, id_read=id_read)
        if result.replayed:
            return result
        try:
            await self.push(frame, result)
        except Exception:  # a broken page must not break the lane
            log.exception("terminal push failed")
        return result

    def _thumbnail(self, frame: Frame) -> str:
        h, w = frame.shape[:2]
        tw = min(w, self.cfg.thumb_width)
        small = cv2.resize(frame, (tw, max(1, round(h * tw / w))), interpolation=cv2.INTER_AREA)
        ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode() if ok else ""

    def _face_crop(self, frame: Frame, box: tuple[float, float, float, float]) -> str:
        """The face with some margin, for a steward to compare with the holder (JPEG data URL)."""
        x, y, w, h = box
        m = 0.4 * max(w, h)
        fh, fw = frame.shape[:2]
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(fw, int(x + w + m)), min(fh, int(y + h + m))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return self._thumbnail(frame)
        return self._thumbnail(frame[y0:y1, x0:x1])

    async def lanes(self) -> tuple[LaneCount, ...]:
        """Per-lane counters from the journal."""
        counts = await asyncio.get_running_loop().run_in_executor(self.service.io, self.service.journal.counts)
        by_lane: dict[int, dict[str, int]] = {}
        for (lane, kind), n in counts.items():
            by_lane.setdefault(lane, {})[kind] = n
        return tuple(LaneCount(lane=lane, entry=k.get("entry", 0), exit=k.get("exit", 0), deny=k.get("deny", 0),
                               secondary=k.get("secondary", 0)) for lane, k in sorted(by_lane.items()))

    async def pending(self) -> int:
        """Events not yet acknowledged by the command server."""
        return await asyncio.get_running_loop().run_in_executor(self.service.io, self.service.journal.pending)

    async def push(self, frame: Frame, result: ScanResult) -> TerminalVerdict:
        """Build the terminal message for a result and send it to every connected page."""
        svc = self.service
        thumb = await asyncio.get_running_loop().run_in_executor(svc.cpu, self._thumbnail, frame)
        ev = result.event
        msg = TerminalVerdict(
            gate_id=ev.gate_id, event_id=ev.event_id, at=ev.at, lane=ev.lane, verdict=result.decision.verdict,
            reasons=ev.reasons, ticket_id=ev.ticket_id, face_distance=result.face_distance,
            hits=tuple(TerminalHit(list_id=h.list_id, entry_id=h.entry_id, severity=h.severity,
                                   distance=round(h.distance, 4), ambiguous=h.ambiguous) for h in result.hits),
            capture=thumb or None, stage_ms={k: round(v, 1) for k, v in result.stage_ms.items()},
            lanes=await self.lanes(), online=svc.uplink.connected.is_set(), pending=await self.pending())
        self.last = msg
        crop = (await asyncio.get_running_loop().run_in_executor(svc.cpu, self._face_crop, frame, result.face_box)
                if result.face_box is not None and result.decision.verdict is Verdict.SECONDARY else thumb)
        if await svc.open_check(result, crop or None) is not None:
            await self.broadcast(self.checks_msg())
        self._status = TerminalStatus(gate_id=ev.gate_id, online=msg.online, pending=msg.pending, lanes=msg.lanes,
                                      lanes_closed=tuple(sorted(svc.lanes_closed)),
                                      evacuating=svc.cache.evacuating, evacuation_note=svc.cache.evacuation_note)
        await self.broadcast(msg)
        return msg

    async def broadcast(self, msg: Msg) -> None:
        """Send a message to every page; a page that does not take it within 2 s is dropped."""
        data = encode(msg).decode()
        for ws in list(self.clients):
            try:
                await asyncio.wait_for(ws.send_str(data), 2.0)
            except (ConnectionError, TimeoutError, RuntimeError):
                self.clients.discard(ws)

    async def status(self) -> TerminalStatus:
        """The gate's current state for the page."""
        svc = self.service
        return TerminalStatus(gate_id=svc.cfg.gate_id, online=svc.uplink.connected.is_set(),
                              pending=await self.pending(), lanes=await self.lanes(),
                              lanes_closed=tuple(sorted(svc.lanes_closed)),
                              evacuating=svc.cache.evacuating, evacuation_note=svc.cache.evacuation_note)

    async def watch(self, every_s: float = 1.0) -> None:
        """Push the status when it changes (uplink up/down, replay progress) and new orders."""
        while True:
            st = await self.status()
            if st != self._status:
                self._status = st
                await self.broadcast(st)
            for oid, order in list(self.service.orders.items()):
                if oid not in self._orders_shown and oid in self.service.orders:  # not called off meanwhile
                    self._orders_shown.add(oid)
                    await self.broadcast(order)
            await asyncio.sleep(every_s)

    async def on_page_message(self, ws: web.WebSocketResponse, raw: str) -> None:
        """Messages from the page: pings only (an order is acknowledged by POST
        /api/orders/{id}/ack, which carries the steward's session)."""
        try:
            msg = decode_gate_message(raw)
        except WireError as err:
            await ws.send_str(encode(ErrorMsg(code="bad_message", message=str(err))).decode())
            return
        if isinstance(msg, OrderAck):
            await ws.send_str(encode(ErrorMsg(code="unsupported", message="acknowledge orders by POST "
                                                                           "/api/orders/{id}/ack")).decode())

    async def acknowledge(self, order_id: int, steward: str) -> bool:
        """The steward signed in here acknowledges an order (divert etc.) at this lane."""
        order = self.service.orders.get(order_id)
        if order is None or not await self.service.acknowledge_order(order_id, f"steward:{steward}"):
            return False
        await self.broadcast(msgspec.structs.replace(order, status="acknowledged"))
        return True


ADMISSION = web.AppKey("admission", Admission)
SERVICE = web.AppKey("gate_service", GateService)
TERMINAL = web.AppKey("terminal", Terminal)
CONFIG = web.AppKey("terminal_config", TerminalConfig)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors and HTTP errors as JSON; anything else a generic 500."""
    try:
        return await handler(request)
    except ImageError as err:
        return _error(400, err.code, str(err))
    except Overloaded:
        resp = _error(503, Overloaded.code, "the gate is busy with other scans; retry in a second")
        resp.headers["Retry-After"] = "1"
        return resp
    except WireError as err:
        return web.json_response({"error": "bad_request", "field": err.field, "message": str(err)}, status=400)
    except IdReadError as err:
        return _error(400, err.code, f"ID document not usable: {err}; read it again")
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "upload_too_large",
                      f"upload is larger than the limit of {request.app[CONFIG].max_upload_bytes} bytes")
    except web.HTTPException as err:
        if err.status >= 400 and err.content_type != "application/json":
            return _error(err.status, err.reason.lower().replace(" ", "_"), err.reason)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal", "internal error")


def _token(request: web.Request) -> str | None:
    h = request.headers.get("Authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip() or None
    token = request.cookies.get(COOKIE)
    if not token and request.headers.get("Upgrade", "").lower() == "websocket":
        token = request.query.get("token")  # a browser cannot set a header on a websocket
    return token or None


def _valid(request: web.Request, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), request.app[CONFIG].token.encode())


@web.middleware
async def origin_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A scan or a terminal websocket from a page of another origin is refused (CSRF)."""
    if needs_origin_check(request.method, request.headers.get("Upgrade")) and not same_origin(
            request.headers.get("Origin"), scheme=request.scheme, host=request.host):
        return _error(403, "bad_origin", "request from another origin refused")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response of the gate (page, API, static files, errors, websocket handshakes)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything but the page and the health check needs the terminal token."""
    if request.path not in _OPEN_PATHS and not request.path.startswith("/static/") \
            and not _valid(request, _token(request)):
        return _error(401, "unauthorized", "terminal token required")
    return await handler(request)


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON error body."""
    return web.HTTPBadRequest(text=json.dumps({"error": "bad_request", "message": message}),
                              content_type="application/json")


def result_json(result: ScanResult) -> dict[str, Any]:
    """The JSON answer to POST /scan."""
    ev = result.event
    return {
        "verdict": result.decision.verdict.value, "reasons": list(ev.reasons), "ticket_id": ev.ticket_id,
        "event_id": ev.event_id, "lane": ev.lane, "latency_ms": ev.latency_ms, "replayed": result.replayed,
        "inside_since": ({"gate_id": result.inside_since.gate_id, "at": result.inside_since.at}
                         if result.inside_since else None),
        "stage_ms": {k: round(v, 2) for k, v in result.stage_ms.items()},
        "face_distance": result.face_distance,
        "face_frames": {"assessed": result.face_frames[0], "used": result.face_frames[1]},
        "hits": [{"list_id": h.list_id, "entry_id": h.entry_id, "severity": h.severity,
                  "distance": h.distance, "ambiguous": h.ambiguous} for h in result.hits],
    }


MAX_RECENT_FRAMES = 4


async def scan(request: web.Request) -> web.Response:
    """Decide one uploaded image: raw JPEG/PNG body, or multipart with a file field "image" and
    up to MAX_RECENT_FRAMES more fields "frame": the lane's recent frames of the same person,
    newest first (the face check embeds the best of all of them)."""
    query = decode_query(ScanQuery, request.query)
    with request.app[ADMISSION].slot():  # before the body is read: a refused upload costs nothing
        extra: list[bytes] = []
        id_read: IdRead | None = None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            field = form.get("image")
            if not isinstance(field, FileField):
                raise bad_request("multipart body needs a file field named 'image'")
            data = field.file.read()
            more = form.getall("frame", [])
            if len(more) > MAX_RECENT_FRAMES or not all(isinstance(f, FileField) for f in more):
                raise bad_request(f"at most {MAX_RECENT_FRAMES} file fields named 'frame'")
            extra = [f.file.read() for f in more if isinstance(f, FileField)]
            id_read = _id_from_form(form, request.app[SERVICE].clock())
        else:
            data = await request.read()
        svc = request.app[SERVICE]
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(svc.cpu, decode_bytes, data)
        recent = [await loop.run_in_executor(svc.cpu, decode_bytes, b) for b in extra] if extra else None
        del data, extra
        result = await request.app[TERMINAL].scan(frame, lane=query.lane, direction=query.direction,
                                                  scan_id=query.scan_id, recent=recent, id_read=id_read)
    return web.json_response(result_json(result))


async def state(request: web.Request) -> web.Response:
    """Lane counters from the journal, pending uplink events, online flag, list sizes."""
    svc, term = request.app[SERVICE], request.app[TERMINAL]
    return web.json_response({
        "gate_id": svc.cfg.gate_id, "event_id": svc.cfg.event_id, "online": svc.uplink.connected.is_set(),
        "pending": await term.pending(),
        "lanes": [{"lane": c.lane, "entry": c.entry, "exit": c.exit, "deny": c.deny, "secondary": c.secondary}
                  for c in await term.lanes()],
        "lanes_closed": sorted(svc.lanes_closed), "list_version": svc.cache.version,
        "keys": len(svc.cache.keys), "holders": len(svc.cache.holders), "watchlist": len(svc.cache.watchlist),
        "tickets_inside": sum(1 for _ in InsideView(svc.cache.presence)),
        "face_model": svc.spec.model_id, "faces_ignored": dict(svc.ignored_faces),
    })


MAX_JSON_BYTES = 4096
MAX_ID_READ_BYTES = 96_000  # a reader frame (photo up to 64 KiB) in base64


async def _json_body(request: web.Request, limit: int = MAX_JSON_BYTES) -> bytes:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=json.dumps({"error": "unsupported_media_type",
                                                            "message": "send JSON as application/json"}),
                                           content_type="application/json")
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise bad_request(f"body larger than {limit} bytes")
    return data


def _steward(request: web.Request) -> str | None:
    return request.app[TERMINAL].signins.who(request.cookies.get(STEWARD_COOKIE))


async def steward_login(request: web.Request) -> web.Response:
    """A steward signs in at this terminal with the PIN the command server issued for this gate."""
    body = decode_body(StewardLoginBody, await _json_body(request), max_bytes=MAX_JSON_BYTES)
    term = request.app[TERMINAL]
    wait = term.signins.retry_after(body.steward)
    if wait is not None:
        resp = _error(429, "too_many_tries", "too many wrong PINs; wait and try again")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    stored = term.service.cache.stewards.get(body.steward)
    ok = await asyncio.get_running_loop().run_in_executor(term.service.cpu, verify_pin, stored or _NO_PIN,
                                                          body.pin)
    if not ok or stored is None:
        term.signins.failed(body.steward)
        return _error(401, "wrong_pin", "unknown steward or wrong PIN for this gate")
    resp = web.json_response({"steward": body.steward})
    resp.set_cookie(STEWARD_COOKIE, term.signins.open(body.steward), httponly=True, samesite="Strict")
    log.info("gate %s: steward %s signed in at the terminal", term.service.cfg.gate_id, body.steward)
    return resp


async def steward_logout(request: web.Request) -> web.Response:
    """Sign the steward of this browser out."""
    request.app[TERMINAL].signins.close(request.cookies.get(STEWARD_COOKIE))
    resp = web.json_response({"steward": None})
    resp.del_cookie(STEWARD_COOKIE)
    return resp


async def steward_me(request: web.Request) -> web.Response:
    """Who is signed in at this browser (the cookie is HttpOnly)."""
    return web.json_response({"steward": _steward(request)})


async def list_checks(request: web.Request) -> web.Response:
    """The open secondary checks."""
    return web.Response(body=encode(request.app[TERMINAL].checks_msg()), content_type="application/json")


async def decide(request: web.Request) -> web.Response:
    """A signed-in steward admits, refuses or calls a supervisor to an open check; the steward is
    the session's, never a field of the request."""
    steward = _steward(request)
    if steward is None:
        return _error(401, "steward_sign_in_required", "a steward must sign in to decide checks")
    body = decode_body(DecisionBody, await _json_body(request), max_bytes=MAX_JSON_BYTES)
    term = request.app[TERMINAL]
    outcome, event = await term.service.decide_check(request.match_info["check_id"], body.action, body.code,
                                                     steward=steward, note=body.note)
    if outcome.refusal is not None or event is None:
        return _error(409, str(outcome.refusal), "this decision cannot be taken")
    await term.broadcast(term.checks_msg())
    await term.broadcast(await term.status())
    return web.json_response({"event_id": event.event_id, "kind": event.kind.value, "steward": steward,
                              "open": outcome.check is not None})


async def ack_order(request: web.Request) -> web.Response:
    """The signed-in steward acknowledges an order sent to this gate; the name on the
    acknowledgement is the session's, never a field of the request."""
    steward = _steward(request)
    if steward is None:
        return _error(401, "steward_sign_in_required", "sign in as a steward to acknowledge orders")
    try:
        order_id = int(request.match_info["order_id"])
    except ValueError:
        return _error(400, "bad_request", "order id must be a number")
    if not await request.app[TERMINAL].acknowledge(order_id, steward):
        return _error(409, "ack_failed", "order unknown or the gate is offline; try again")
    return web.json_response({"order_id": order_id, "acknowledged_by": steward})


# ---- 人证票合一: ID document reads (gate/idcheck.py) ------------------------------------------


def _today(clock_s: float) -> date:
    return datetime.fromtimestamp(clock_s).date()


def _id_from_form(form: Any, now: float) -> IdRead | None:
    """An ID read sent with a multipart scan: a field `id_number`, or a file field `id_frame`."""
    number, frame = form.get("id_number"), form.get("id_frame")
    if number is not None and frame is not None:
        raise bad_request("send id_number or id_frame, not both")
    if isinstance(frame, FileField):
        data = frame.file.read(MAX_ID_READ_BYTES + 1)
        if len(data) > MAX_ID_READ_BYTES:
            raise bad_request(f"id_frame larger than {MAX_ID_READ_BYTES} bytes")
        return read_frame(data, _today(now))
    if isinstance(number, str):
        return read_number(number[:40], _today(now))
    if number is not None or frame is not None:
        raise bad_request("id_number must be a text field and id_frame a file field")
    return None


async def id_read(request: web.Request) -> web.Response:
    """An ID document read at the terminal (typed number, or a reader's frame): checked, then kept
    for the lane's next scan, which matches it with the ticket holder's registration."""
    body = decode_body(IdReadBody, await _json_body(request, MAX_ID_READ_BYTES), max_bytes=MAX_ID_READ_BYTES)
    if (body.number is None) == (body.frame is None):
        raise bad_request("send exactly one of number and frame")
    svc = request.app[SERVICE]
    today = _today(svc.clock())
    read = read_number(body.number, today) if body.number is not None else read_frame(body.frame or b"", today)
    svc.offer_id(read, lane=body.lane)
    return web.json_response({"lane": body.lane, "last4": read.last4, "expired": read.expired,
                              "chip_photo": bool(read.photo), "for_s": svc.cfg.id_read_s})


async def peer_ws(request: web.Request) -> web.StreamResponse:
    """Another gate of the event tells this one the presence changes it decided (gate/peers.py)."""
    svc = request.app[SERVICE]
    peer = authenticate(request.headers.get("Authorization", ""), svc.cache.peer_key, svc.cfg.event_id,
                        frozenset(svc.cfg.peers))
    if peer is None:
        return _error(401, "unauthorized", "peer credential required")
    ws = web.WebSocketResponse(heartbeat=10, max_msg_size=1 << 20)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        try:
            told = decode_peer_message(msg.data)
        except WireError as err:
            log.warning("gate %s: bad message from peer %s: %s", svc.cfg.gate_id, peer, err)
            continue
        if isinstance(told, PeerPresence) and told.gate_id == peer:
            svc.learn_presence(told.changes)
    return ws


async def health(request: web.Request) -> web.Response:
    """Liveness (no authentication, no details)."""
    return web.json_response({"status": "ok"})


async def page(request: web.Request) -> web.StreamResponse:
    """The terminal page; `/?token=...` also stores the token in an HttpOnly cookie."""
    path = request.app[CONFIG].web_dir / "gate.html"
    if not path.exists():
        return _error(404, "not_found", "terminal page not installed (web/gate.html)")
    resp = web.FileResponse(path)
    token = request.query.get("token")
    if token is not None and _valid(request, token):
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    return resp


async def terminal_ws(request: web.Request) -> web.WebSocketResponse:
    """Push every decided scan to the page (the last one on connect)."""
    term = request.app[TERMINAL]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    if term.last is not None:
        await ws.send_str(encode(term.last).decode())
    await ws.send_str(encode(await term.status()).decode())
    for order in list(term.service.orders.values()):
        await ws.send_str(encode(order).decode())
    term.clients.add(ws)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await term.on_page_message(ws, msg.data)
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        term.clients.discard(ws)
    return ws


async def run_source(term: Terminal, source: CaptureSource | FolderSource, *, lane: int = 0,
                     clock: Callable[[], float] = time.monotonic) -> None:
    """Feed a frame source to the lane. Camera frames are scanned only when they show a QR code
    that differs from the last one (or the same one after repeat_s); folder files always."""
    loop = asyncio.get_running_loop()
    last: tuple[tuple[str, ...], float] = ((), 0.0)
    async with contextlib.aclosing(aiter(source)) as frames:
        async for item in frames:
            try:
                if isinstance(source, CaptureSource):
                    texts = tuple(await loop.run_in_executor(term.service.cpu, qr.decode, item.frame))
                    now = clock()
                    if not texts or (texts == last[0] and now - last[1] < term.cfg.repeat_s):
                        term.service.offer(item.frame, lane=lane, at=item.at)  # its face may serve the next scan
                        continue
                    last = (texts, now)
                await term.scan(item.frame, lane=lane, captured_at=item.at, scan_id=uuid.uuid4().hex)
            except (ImageError, ValueError) as err:
                log.warning("frame %s not scanned: %s", item.label, err)


def create_gate_app(service: GateService, cfg: TerminalConfig,
                    source: CaptureSource | FolderSource | None = None) -> web.Application:
    """The gate's app; it starts and stops `service` (and the source loop) with the app."""
    app = web.Application(middlewares=[errors_middleware, origin_check, auth_middleware],
                          client_max_size=cfg.max_upload_bytes)
    app.on_response_prepare.append(security_headers)
    app[SERVICE] = service
    app[CONFIG] = cfg
    app[TERMINAL] = Terminal(service, cfg)
    app[ADMISSION] = Admission(cfg.max_in_flight)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await service.start()
        watcher = asyncio.create_task(app[TERMINAL].watch(), name="terminal-status")
        feeder = None
        if source is not None:
            feeder = asyncio.create_task(run_source(app[TERMINAL], source, lane=cfg.source_lane), name="source")
            feeder.add_done_callback(_report_source_end)
        yield
        if feeder is not None:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, SourceError):
                await feeder
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for ws in list(app[TERMINAL].clients):
            await ws.close()
        await service.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/scan", scan)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/health", health)
    app.router.add_get("/ws/peer", peer_ws)
    app.router.add_get("/ws/terminal", terminal_ws)
    app.router.add_post("/api/steward/login", steward_login)
    app.router.add_post("/api/steward/logout", steward_logout)
    app.router.add_get("/api/steward", steward_me)
    app.router.add_get("/api/checks", list_checks)
    app.router.add_post("/api/checks/{check_id}/decision", decide)
    app.router.add_post("/api/orders/{order_id}/ack", ack_order)
    app.router.add_post("/api/idcheck", id_read)
    app.router.add_get("/", page)
    if cfg.web_dir.is_dir():
        app.router.add_static("/static/", cfg.web_dir, follow_symlinks=False)
    return app


def _report_source_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        log.error("frame source stopped: %s", err)
    else:
        log.info("frame source finished")


async def serve(cfg: GateConfig, cache: GateCache, tcfg: TerminalConfig, *, host: str, port: int,
                source: CaptureSource | FolderSource | None = None, tls: tuple[Path, Path] | None = None) -> None:
    """Run a gate until cancelled (the CLI's `gate run`; tls: certificate and key files).
    (SIGTERM cancels it like Ctrl-C, from the loop: eventguard.aio.run.)"""
    ctx = None
    if tls is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*tls)
    service = GateService(cfg, cache)
    runner = web.AppRunner(create_gate_app(service, tcfg, source), keepalive_timeout=HEADER_TIMEOUT_S)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port, ssl_context=ctx).start()
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is in use (another gate on this host? give each gate "
                                  "its own --port)") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}") from None
        log.info("gate %s: terminal on %s://%s:%d/ (the token is in its terminal token file), uplink %s",
                 cfg.gate_id, "https" if ctx else "http", host, port, cfg.server_url)
        await service.uplink.stopped.wait()  # only when the server refused this gate for good
        assert service.uplink.refused is not None
        raise service.uplink.refused
    finally:
        await runner.cleanup()
