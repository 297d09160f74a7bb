"""REST routes for the event as a whole: closing or opening its entry, resetting presence.

Both are commander actions at the end of an event (or of a session of it), audited, and they
reach every gate through the list sync (entry state, presence changes)."""

from __future__ import annotations

from aiohttp import web

from command import store, sync_store
from command.appkeys import POOL, SERVICE, VENUE
from command.auth import Principal, Role
from command.requests import read_body
from command.routing import guarded
from eventguard.wire import EntryBody

routes = web.RouteTableDef()
COMMANDERS = frozenset({Role.COMMANDER})


@guarded(routes, "GET", "/api/event", frozenset(Role), tag="event")
async def event_state(request: web.Request, who: Principal) -> web.Response:
    """The event's id, name and whether its entry is open."""
    venue = request.app[VENUE]
    async with request.app[POOL].acquire() as conn:
        is_open = await sync_store.entry_open(conn, venue.event.id)
    return web.json_response({"event_id": venue.event.id, "name": venue.event.name, "entry_open": is_open})


@guarded(routes, "POST", "/api/event/entry", COMMANDERS, body=EntryBody, tag="event")
async def set_entry(request: web.Request, who: Principal) -> web.Response:
    """Close (every gate exit-only) or reopen the event's entry; audited."""
    is_open = (await read_body(request, EntryBody)).open
    event_id = request.app[VENUE].event.id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await sync_store.set_entry(conn, event_id, is_open, who.subject)
        await store.audit(conn, who.subject, who.role.value, "entry_open" if is_open else "entry_close",
                          event_id, {})
    return web.json_response({"event_id": event_id, "entry_open": is_open})


@guarded(routes, "POST", "/api/event/presence/reset", COMMANDERS, tag="event")
async def reset_presence(request: web.Request, who: Principal) -> web.Response:
    """Count everyone out: every ticket inside is marked outside, zone occupancy returns to 0."""
    out = await request.app[SERVICE].reset_presence(who.subject, who.role.value)
    return web.json_response({"event_id": request.app[VENUE].event.id, "tickets_out": out})
