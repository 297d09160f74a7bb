"""A device's websocket (/ws/gate, /ws/camera): the process connects with its bearer token, is
authenticated for its role and welcomed, and its credentials are re-checked while the link is
open; what it streams then (batches, each acknowledged) is the endpoint's own. Also `send`, one
wire message as a JSON text frame, as every websocket of the server sends it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from command.appkeys import SERVICE
from command.auth import Principal, Role
from command.security import principal, watch_session
from eventguard.wire import MAX_MESSAGE_BYTES, Msg, Welcome, encode


async def send(ws: web.WebSocketResponse, msg: Msg) -> None:
    """Send one wire message as a JSON text frame."""
    await ws.send_str(encode(msg).decode())


@contextlib.asynccontextmanager
async def device_link(request: web.Request,
                      role: Role) -> AsyncIterator[tuple[Principal, web.WebSocketResponse]]:
    """Authenticate a device of `role` (AuthError/Forbidden before any upgrade), open its
    websocket and welcome it; while the block runs, a rotated token closes the link."""
    who = await principal(request, role)
    service = request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    await send(ws, Welcome(subject=who.subject, role=who.role.value, server_time=service.clock(),
                           event_id=service.venue.event.id))
    watch = asyncio.create_task(watch_session(request, who, ws))  # a rotated token ends the link
    try:
        yield who, ws
    finally:
        watch.cancel()

