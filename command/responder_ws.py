"""/ws/responder: a unit's responder page is pushed its orders and the evacuation (issue 20).

Authenticated like every websocket of the server (the session cookie the page got at sign-in, or
a bearer header; never a token in the URL; the Origin checked by the app's middleware; the
credentials re-checked every `session_recheck_s`, closing with 4401/4403). The `responder` role
only, and only its own unit: on connect the unit and its orders (ResponderOrders, whole) and
the evacuation (ResponderEvacuation), then the unit and orders again, whole, whenever one of them
changes (command/responders.py), and the evacuation when it changes. A page that reconnects gets the
same snapshot: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from command import dispatch, units
from command.appkeys import POOL, RESPONDERS, SERVICE
from command.auth import Role
from command.device_link import send
from command.page_socket import serve_page
from command.responders import ResponderLink
from command.security import principal
from command.store import DB_DOWN
from eventguard.codes import OrderKind
from eventguard.wire import ResponderOrders

log = logging.getLogger(__name__)
RETRY_S = 2.0  # the database did not answer: read the orders again after this
MAX_MESSAGE_BYTES = 4 * 1024  # a page sends pings only


async def responder_ws(request: web.Request) -> web.WebSocketResponse:
    """Push a responder its unit's orders and the evacuation; answer its pings."""
    who = await principal(request, Role.RESPONDER)
    pool, service, responders = request.app[POOL], request.app[SERVICE], request.app[RESPONDERS]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    link = responders.attach(ws, who.subject)  # before the first read: no change falls between

    async def orders() -> ResponderOrders:
        async with pool.acquire(timeout=5) as conn:
            found = await dispatch.list_orders(conn, target=who.subject, kind=OrderKind.DISPATCH)
            unit = await units.get_unit(conn, who.subject)
        return ResponderOrders(unit_id=who.subject, orders=tuple(found), unit=unit, at=service.clock())

    try:  # a rotated token or a retired unit is closed by the session re-check
        await serve_page(request, who, ws, _pump(link, orders), name=f"responder-{who.subject}")
    finally:
        responders.detach(link)
    return ws


async def _pump(link: ResponderLink, orders: Callable[[], Awaitable[ResponderOrders]]) -> None:
    """Send what the socket is due each time it is marked: its unit and orders read after the
    change (changes meanwhile are folded into one read), then the newest evacuation message."""
    ws = link.ws
    while not ws.closed:
        await link.wake.wait()
        link.wake.clear()
        retry = False
        if link.orders_stale:
            link.orders_stale = False
            try:
                msg = await orders()
            except DB_DOWN as err:
                log.warning("orders of unit %s not read (%s): again in %.0f s", link.unit_id, err, RETRY_S)
                link.orders_stale = retry = True
            else:
                await send(ws, msg)
        data, link.evacuation = link.evacuation, None
        if data is not None:
            await ws.send_frame(data, WSMsgType.TEXT)  # JSON already
        if retry:
            await asyncio.sleep(RETRY_S)
            link.wake.set()
