"""The open responder sockets of one server (issue 20): which unit each serves and what it must be
sent next. Changes of orders and units mark the sockets of the units they concern
(command/responder_view.py); each socket's pump (command/responder_ws.py) then reads that unit and
its orders once and sends them whole, so changes that come in a burst cost one read and a missed one cannot leave a page wrong.
Never blocks the publisher: marking is a flag and an event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web

from command.responder_view import units_of
from eventguard.wire import Order, UnitView


class ResponderLink:
    """One open responder socket."""

    def __init__(self, ws: web.WebSocketResponse, unit_id: str, evacuation: bytes | None) -> None:
        self.ws = ws
        self.unit_id = unit_id
        self.orders_stale = True  # read the unit and its orders and send them (at first: the snapshot)
        self.evacuation = evacuation  # the newest evacuation message not sent yet (JSON)
        self.wake = asyncio.Event()
        self.wake.set()


class Responders:
    """Every open responder socket, by unit."""

    def __init__(self) -> None:
        self.links: dict[str, set[ResponderLink]] = {}
        self.evacuation: bytes | None = None  # the last evacuation message offered (new sockets start with it)

    def attach(self, ws: web.WebSocketResponse, unit_id: str) -> ResponderLink:
        """Register a socket: it is due its unit's orders and the evacuation state now."""
        link = ResponderLink(ws, unit_id, self.evacuation)
        self.links.setdefault(unit_id, set()).add(link)
        return link

    def detach(self, link: ResponderLink) -> None:
        """Forget a socket."""
        links = self.links.get(link.unit_id)
        if links is not None:
            links.discard(link)
            if not links:
                del self.links[link.unit_id]

    def changed(self, orders: Iterable[Order] = (), units: Iterable[UnitView] = ()) -> None:
        """Orders were issued, escalated, acknowledged or cancelled, or units changed (committed):
        the sockets of the units concerned read and send their unit and orders again."""
        for unit in units_of(orders, units):
            for link in self.links.get(unit, ()):
                link.orders_stale = True
                link.wake.set()

    def evacuation_changed(self, data: bytes) -> None:
        """The responders' evacuation message now (command/evacuation_api.py offers it every time
        it reads the state): sent to every socket when it differs from the last one."""
        if data == self.evacuation:
            return
        self.evacuation = data
        for links in self.links.values():
            for link in links:
                link.evacuation = data
                link.wake.set()

    def units(self) -> frozenset[str]:
        """The units with a socket open."""
        return frozenset(self.links)
