"""/ws/live: the live map's feed — a snapshot on connect, then deltas."""

from __future__ import annotations

import logging

from aiohttp import web

from command.appkeys import HUB, SERVICE
from command.auth import STAFF, Role
from command.page_socket import serve_page
from command.security import principal
from command.service import snapshot_for_viewer
from eventguard.wire import encode

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

    try:
        await serve_page(request, who, ws, hub.pump(sub, snapshot))
    finally:
        hub.detach(sub)
    return ws
