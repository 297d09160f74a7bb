"""A page's push socket (live map, responder phone): what the server pushes runs beside the
session re-check, and what the page may send is pings only. Each is answered with a pong;
anything else gets an error naming it, and the socket stays open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from command.auth import Principal
from command.device_link import send
from command.security import watch_session
from eventguard.errors import WireError
from eventguard.wire import ErrorMsg, Ping, Pong, decode_gate_message


async def answer_pings(ws: web.WebSocketResponse) -> None:
    """Read the page's messages until the socket closes, answering pings."""
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


async def serve_page(request: web.Request, who: Principal, ws: web.WebSocketResponse,
                     pump: Coroutine[Any, Any, None], *, name: str | None = None) -> None:
    """Run `pump` (what the server pushes to this page) and the session re-check (a demoted,
    disabled or rotated principal is closed) beside the page's pings until the socket closes;
    then stop both."""
    tasks = (asyncio.create_task(pump, name=name), asyncio.create_task(watch_session(request, who, ws)))
    try:
        await answer_pings(ws)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await task
