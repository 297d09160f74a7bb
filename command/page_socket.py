"""What a page may send on a push socket (live map, responder phone): pings only. Each is
answered with a pong; anything else gets an error naming it, and the socket stays open."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from command.device_link import send
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
