"""/ws/live: the live map's feed — a snapshot on connect, then deltas."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from command.appkeys import HUB, SERVICE
from command.auth import STAFF, Role
from command.device_link import send
from command.security import principal, watch_session
from command.service import snapshot_for_viewer
from eventguard.errors import WireError
from eventguard.wire import ErrorMsg, Ping, Pong, decode_gate_message, encode

log = logging.getLogger(__name__)


async def live_ws(request: web.Request) -> web.WebSocketResponse:
    """Stream the crowd picture to an authenticated operator, commander or viewer."""
    who = await principal(request, *STAFF)
    hub, service = request.app[HUB], request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    viewer = who.role is Role.VIEWER
    sub = hub.attach(ws, viewer=viewer)

    async def snapshot() -> str:
        snap = await service.snapshot_async()
        return encode(snapshot_for_viewer(snap) if viewer else snap).decode()

    pump = asyncio.create_task(hub.pump(sub, snapshot))
    watch = asyncio.create_task(watch_session(request, who, ws))  # demoted or disabled: closed
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                m = decode_gate_message(msg.data)
            except WireError as err:
                await send(ws, ErrorMsg(code="bad_message", message=str(err)))
                continue
            if isinstance(m, Ping):
                await send(ws, Pong(nonce=m.nonce))
            else:
                await send(ws, ErrorMsg(code="unsupported", message=f"{type(m).__name__} is not accepted here"))
    finally:
        hub.detach(sub)
        for task in (pump, watch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await task
    return ws
