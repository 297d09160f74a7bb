"""REST routes for evacuation (issue 20): a commander prepares it for zones or the whole venue,
confirms it with the code the first step gave, and ends it; each step audited. Staff and
responders read its state: zones, gates on free exit, egress routes, progress as occupancy falls;
live maps are pushed it (an `evacuation` message through the hub and the replicas' feed) when it
changes, responder pages their view of it (a `responder_evacuation` message on /ws/responder).
The server keeps the evacuation row in memory: it reads it when PostgreSQL notifies a change
(sql/0025, whoever made it), not every second (see push_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from command import evacuation, responder_view, store
from command.appkeys import HUB, POOL, RESPONDERS, SERVICE, SETTINGS, VENUE
from command.auth import STAFF, Principal, Role
from command.errors import Conflict
from command.requests import bad_request, read_body
from command.routing import guarded
from command.sync import SyncFeed
from eventguard.wire import (
    EgressRoute,
    EvacuationConfirmBody,
    EvacuationPrepareBody,
    EvacuationUpdate,
    ResponderEvacuation,
    encode,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
PUSH_EVERY_S = 1.0  # how often the state is made again for changes (occupancy, clearance) while nothing else says
RECHECK_S = 15.0  # the row is read again this often all the same (a LISTEN connection lost unnoticed)
COMMANDERS = frozenset({Role.COMMANDER})
EVACUATION = web.AppKey("evacuation", evacuation.EvacuationDesk)
EVACUATION_FEED = web.AppKey("evacuation_feed", SyncFeed)  # LISTENs on evacuation.CHANNEL


async def _row(app: web.Application) -> dict[str, Any] | None:
    async with app[POOL].acquire() as conn:
        return await evacuation.current(conn, app[VENUE].event.id)


async def _state(app: web.Application, row: dict[str, Any] | None) -> EvacuationUpdate:
    """The state from the evacuation row and the occupancy now."""
    venue, svc = app[VENUE], app[SERVICE]
    if row is None:
        return EvacuationUpdate()
    occupancy = svc.state.occupancy()
    zones = evacuation.covered_zones(venue, row["zones"])
    clearance = await _clearance(app, {z: occupancy.get(z, 0) for z in zones}) if row["active"] else None
    return EvacuationUpdate(
        **row, clearance_s=dict(clearance.seconds) if clearance else {},
        clearance_model=clearance.model if clearance else None, zones_covered=zones,
        gates=evacuation.affected_gates(venue, row["zones"]),
        routes=tuple(EgressRoute(zone=r.zone, path=r.path, exit_gates=r.exit_gates, length_m=r.length_m)
                     for r in evacuation.egress_routes(venue, row["zones"])),
        occupancy={z: occupancy.get(z, 0) for z in zones},
        progress=evacuation.progress({z: row["start_occupancy"].get(z, 0) for z in zones}, occupancy))


async def push(app: web.Application, *, read: bool = False) -> None:
    """Publish the state to live maps (through the hub and the replicas' feed) if it changed,
    and the responders' view of it to their pages (sent by them only when that changed); made
    from the evacuation row kept in memory, read again first with `read` (the row changed)."""
    desk = app[EVACUATION]
    async with desk.pushing:  # read and publish in order: a state read before a change never follows it
        if read:
            desk.row, desk.known = await _row(app), True
        if not desk.known:
            return  # never read yet (the database did not answer): nothing to say
        now = await _state(app, desk.row)
        data = encode(now)
        if data != desk.pushed:
            desk.pushed = data
            app[HUB].publish(data.decode())
        app[RESPONDERS].evacuation_changed(encode(responder_view.evacuation(now)))


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    """While the server runs: push the state when it changes (declared, ended, people out).
    The row is read at start, when PostgreSQL notifies a change of it (sql/0025: whichever
    server or tool made it), after the LISTEN connection was lost (changes meanwhile) and every
    RECHECK_S; in between the state is made every PUSH_EVERY_S from the row in memory."""
    feed = SyncFeed(app[SETTINGS].database_url, channel=evacuation.CHANNEL, name="evacuation")
    app[EVACUATION_FEED] = feed
    loop = asyncio.get_running_loop()

    async def run() -> None:
        seen, read, read_at = feed.generation, True, loop.time()
        while True:
            read = read or loop.time() - read_at >= RECHECK_S
            try:
                await push(app, read=read)
                if read:
                    read, read_at = False, loop.time()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                log.warning("evacuation state not pushed: %s", err)  # read again in PUSH_EVERY_S
            generation = await feed.wait(seen, PUSH_EVERY_S)  # at once on a notification
            if generation != seen:
                seen, read = generation, True

    tasks = [asyncio.create_task(feed.run(), name="evacuation-listen"),
             asyncio.create_task(run(), name="evacuation-push")]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _clearance(app: web.Application, occupancy: dict[str, int]) -> evacuation.Clearance | None:
    """The simulator's estimate from the occupancy now, in a thread; None without a model."""
    desk = app[EVACUATION]
    if desk.model is None:
        return None
    key = tuple(sorted(occupancy.items()))
    found = desk.cached(key)
    if found is None:
        found = await asyncio.to_thread(desk.model, occupancy, tuple(occupancy))
        desk.last = (key, found)
    return found


def _json(state: EvacuationUpdate | ResponderEvacuation, status: int = 200) -> web.Response:
    return web.Response(body=encode(state), status=status, content_type="application/json")


@guarded(routes, "GET", "/api/evacuation", STAFF, tag="evacuation")
async def state(request: web.Request, who: Principal) -> web.Response:
    """The evacuation under way (or the last one), its gates, routes and progress (what the
    live map is pushed; read on a load or a resync)."""
    return _json(await _state(request.app, await _row(request.app)))


@guarded(routes, "GET", "/api/responder/evacuation", frozenset({Role.RESPONDER}), tag="responder")
async def responder_state(request: web.Request, who: Principal) -> web.Response:
    """What a responder's phone shows: whether an evacuation is under way, where, the text and the
    ways out (what /ws/responder pushes; read while that socket is down)."""
    return _json(responder_view.evacuation(await _state(request.app, await _row(request.app))))


@guarded(routes, "POST", "/api/evacuation/prepare", COMMANDERS, body=EvacuationPrepareBody, tag="evacuation")
async def prepare(request: web.Request, who: Principal) -> web.Response:
    """First step: what the evacuation would cover, and the code that confirms it (2 min)."""
    body = await read_body(request, EvacuationPrepareBody)
    venue, svc = request.app[VENUE], request.app[SERVICE]
    known = {z.id for z in venue.zones}
    for i, z in enumerate(body.zones):
        if z not in known:
            raise bad_request(f"unknown zone {z!r} (zones: {', '.join(sorted(known))})", f"zones[{i}]")
    p = request.app[EVACUATION].confirms.prepare(who.subject, tuple(dict.fromkeys(body.zones)), (body.note or "").strip(),
                                      svc.clock())
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "evacuation_prepare", venue.event.id,
                          {"zones": list(p.zones), "note": p.note})
    return web.json_response({"confirm": p.code, "zones": list(evacuation.covered_zones(venue, p.zones)),
                              "whole_venue": not p.zones, "gates": list(evacuation.affected_gates(venue, p.zones)),
                              "expires_in_s": evacuation.CONFIRM_WITHIN_S})


@guarded(routes, "POST", "/api/evacuation/declare", COMMANDERS, body=EvacuationConfirmBody, tag="evacuation")
async def declare(request: web.Request, who: Principal) -> web.Response:
    """Second step: declare the prepared evacuation; its gates switch to free exit."""
    body = await read_body(request, EvacuationConfirmBody)
    venue, svc = request.app[VENUE], request.app[SERVICE]
    p = request.app[EVACUATION].confirms.take(body.confirm, who.subject, svc.clock())
    if p is None:
        raise Conflict("no such confirmation: prepare the evacuation again (codes last 2 min, once, for "
                       "the commander who prepared them)")
    occupancy = svc.state.occupancy()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await evacuation.declare(conn, venue.event.id, p.zones, p.note, who.subject,
                                 {z: occupancy.get(z, 0) for z in evacuation.covered_zones(venue, p.zones)})
        await store.audit(conn, who.subject, who.role.value, "evacuation_declare", venue.event.id,
                          {"zones": list(p.zones), "note": p.note,
                           "gates": list(evacuation.affected_gates(venue, p.zones))})
    await push(request.app, read=True)  # every live map shows it now, not at its next read
    return _json(await _state(request.app, await _row(request.app)), status=201)


@guarded(routes, "POST", "/api/evacuation/end", COMMANDERS, tag="evacuation")
async def end(request: web.Request, who: Principal) -> web.Response:
    """End the evacuation: gates return to normal checks."""
    venue = request.app[VENUE]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if not await evacuation.end(conn, venue.event.id, who.subject):
            raise Conflict("no evacuation is under way")
        await store.audit(conn, who.subject, who.role.value, "evacuation_end", venue.event.id, {})
    await push(request.app, read=True)
    return _json(await _state(request.app, await _row(request.app)))
