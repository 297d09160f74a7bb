"""/ws/live: the live map's feed — a snapshot on connect, then deltas."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from command.appkeys import HUB, SERVICE
from command.auth import STAFF
from command.gate_ws import send
from command.security import principal
from eventguard.errors import WireError
from eventguard.wire import ErrorMsg, Ping, Pong, decode_gate_message, encode

log = logging.getLogger(__name__)


async def live_ws(request: web.Request) -> web.WebSocketResponse:
    """Stream the crowd picture to an authenticated operator, commander or viewer."""
    await principal(request, *STAFF)
    hub, service = request.app[HUB], request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    sub = hub.attach(ws)

    async def snapshot() -> str:
        return encode(await service.snapshot_async()).decode()

    pump = asyncio.create_task(hub.pump(sub, snapshot))
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
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await pump
    return ws
