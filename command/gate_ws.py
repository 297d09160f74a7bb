"""/ws/gate: gates stream events and receive acknowledgements, orders and list syncs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiohttp import WSMsgType, web

from command import dispatch, photo_seal, screening_store
from command.appkeys import HOLDER_PHOTOS, ID_KEY, PHOTO_KEY, SERVICE
from command.auth import Role
from command.device_link import device_link, send
from command.errors import CommandError, ModelMismatch, StoreUnavailable
from command.service import CommandService
from command.store import DB_DOWN
from command.sync import FEED, GateSync
from eventguard.codes import EventKind
from eventguard.config import Venue
from eventguard.errors import WireError
from eventguard.wire import (
    ErrorMsg,
    EventBatch,
    GateEvent,
    HitAck,
    Msg,
    OrderAck,
    OrderCancelled,
    Ping,
    Pong,
    RejectedEvent,
    SyncRequest,
    WatchlistHitReport,
    decode_from_gate,
    encode,
)

log = logging.getLogger(__name__)


async def gate_ws(request: web.Request) -> web.WebSocketResponse:
    """Authenticate a gate, then handle its messages one at a time (natural back-pressure)."""
    async with device_link(request, Role.GATE) as (who, ws):
        service = request.app[SERVICE]
        service.gate_connected(who.subject, ws)
        try:
            await _serve(request, ws, service, who.subject)
        finally:
            service.gate_disconnected(who.subject, ws)
    return ws


async def _serve(request: web.Request, ws: web.WebSocketResponse, service: CommandService,
                 gate_id: str) -> None:
    """Send the gate its pending and called-off orders, keep its lists in sync, and answer its messages."""
    event_id = service.venue.event.id

    async def push(m: Msg) -> None:
        await send(ws, m)

    lists = GateSync(request.app[FEED], service.pool, event_id, gate_id, push,
                     photos=request.app.get(HOLDER_PHOTOS), id_key=request.app.get(ID_KEY),
                     face_key=request.app.get(PHOTO_KEY))  # embeddings sealed in the database
    try:
        async with service.pool.acquire(timeout=5) as conn:
            for order in reversed(await dispatch.list_orders(conn, pending_only=True, target=gate_id)):
                await send(ws, order)
            # and those called off, so a gate that was offline meanwhile drops them (it ignores the rest)
            for order in reversed(await dispatch.called_off_gate_orders(conn, gate_id)):
                await send(ws, OrderCancelled(order_id=order.order_id, kind=order.kind, target=order.target))
    except DB_DOWN:
        pass  # pending orders are re-sent on the next connection
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            try:
                await _handle(ws, service, lists, gate_id, event_id, msg.data, request.app[PHOTO_KEY])
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except Exception:  # never drop the socket over one message: the gate would resend it
                log.exception("gate %s: message not handled", gate_id)
                await send(ws, ErrorMsg(code="internal", message="message not handled; see the server log"))
    finally:
        lists.stop()


def scope_refusals(venue: Venue, gate_id: str, events: Sequence[GateEvent]) -> list[RejectedEvent]:
    """The events a gate may not report, each with its field and reason: a gate token is scoped
    to its gate, and a gate reports transfers only at its own zone's connections."""
    out: list[RejectedEvent] = []
    for i, e in enumerate(events):
        if e.gate_id != gate_id:
            out.append(RejectedEvent(i, e.event_id, "gate_id", f"event of gate {e.gate_id} sent by gate {gate_id}",
                                     encode(e)))
        elif e.kind is EventKind.TRANSFER:
            why = venue.transfer_refusal(gate_id, e.zone_from, e.zone_to)
            if why is not None:
                out.append(RejectedEvent(i, e.event_id, "zone_from", why, encode(e)))
    return out


async def _handle(ws: web.WebSocketResponse, service: CommandService, lists: GateSync, gate_id: str,
                  event_id: str, data: str | bytes, photo_key: photo_seal.KeyFile | None = None) -> None:
    """Answer one message of a gate."""
    try:
        m, rejected = decode_from_gate(data)
    except WireError as err:
        log.warning("gate %s sent a bad message: %s", gate_id, err)
        await send(ws, ErrorMsg(code="bad_message", message=str(err), field=err.field))
        return
    if isinstance(m, EventBatch):
        refused = scope_refusals(service.venue, gate_id, m.events)
        if refused:
            rejected = (*rejected, *refused)
            out = {r.position for r in refused}
            m = EventBatch(batch_id=m.batch_id, events=tuple(e for i, e in enumerate(m.events) if i not in out))
        try:
            ack = await service.ingest(m, gate_id, rejected)
        except StoreUnavailable as err:
            log.warning("batch %s from %s not stored: %s", m.batch_id, gate_id, err)
            await send(ws, ErrorMsg(code=err.code, message=f"batch {m.batch_id} not stored; retry later"))
            return
        await send(ws, ack)
    elif isinstance(m, Ping):
        await send(ws, Pong(nonce=m.nonce))
    elif isinstance(m, SyncRequest):
        if m.event_id != event_id:
            await send(ws, ErrorMsg(code="wrong_event", field="event_id",
                                    message=f"this server serves event {event_id}"))
        else:
            lists.start(m.since_version)
    elif isinstance(m, WatchlistHitReport | OrderAck):
        sealed = None  # a hit's live capture: checked and sealed off the loop (command/screening_store.py)
        if isinstance(m, WatchlistHitReport) and m.capture is not None and photo_key is not None:
            sealed = await asyncio.get_running_loop().run_in_executor(None, screening_store.seal_capture,
                                                                      photo_key, m)
        try:
            await service.handle_gate_report(gate_id, m, capture_sealed=sealed)
        except CommandError as err:
            await send(ws, ErrorMsg(code=err.code, message=str(err)))
            if isinstance(err, ModelMismatch) and isinstance(m, WatchlistHitReport):
                await send(ws, HitAck(event_id=m.event_id, entry_id=m.entry_id))  # refused for good: forget it
            return
        if isinstance(m, WatchlistHitReport):  # stored (now or before): the gate may forget it
            await send(ws, HitAck(event_id=m.event_id, entry_id=m.entry_id))
