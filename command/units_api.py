"""REST routes for units (create, edit, retire, responder tokens) and the dispatch proposal."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from command import auth, dispatch, store, units
from command.appkeys import POOL, SERVICE, VENUE
from command.auth import ACTORS, STAFF, Principal, Role
from command.requests import bad_request, read_body
from command.routing import guarded
from command.walking import place_zone, propose
from eventguard.codes import UnitCapability, UnitKind
from eventguard.config import Venue
from eventguard.wire import UnitCreateBody, UnitEditBody, to_builtins

routes = web.RouteTableDef()


def _known_place(venue: Venue, place: str | None, field: str) -> None:
    if place is not None and place_zone(venue, place) is None:
        known = ", ".join([z.id for z in venue.zones] + [g.id for g in venue.gates])
        raise bad_request(f"{field} must be a zone or gate of the venue ({known})", field)


@guarded(routes, "POST", "/api/units/new", ACTORS, body=UnitCreateBody, tag="units")
async def create_unit(request: web.Request, who: Principal) -> web.Response:
    """Create a unit (the event's own team or an external agency's); 409 if the id is taken."""
    body = await read_body(request, UnitCreateBody)
    _known_place(request.app[VENUE], body.home_zone, "home_zone")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        unit = await units.create_unit(
            conn, unit_id=body.id, kind=body.kind, name=body.name.strip(), capabilities=body.capabilities,
            agency=body.agency.strip(), home_zone=body.home_zone, home_x=body.home_x, home_y=body.home_y,
            shift=body.shift)
        await store.audit(conn, who.subject, who.role.value, "unit_create", unit.id, to_builtins(unit))
    request.app[SERVICE].publish_ops(units=[unit])
    return web.json_response(to_builtins(unit), status=201)


@guarded(routes, "PATCH", "/api/units/{id}", ACTORS, body=UnitEditBody, tag="units")
async def edit_unit(request: web.Request, who: Principal) -> web.Response:
    """Change a unit's kind, name, capabilities, agency, home, shift or status."""
    body = await read_body(request, UnitEditBody)
    _known_place(request.app[VENUE], body.home_zone, "home_zone")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        before, after = await units.edit_unit(
            conn, request.match_info["id"], kind=body.kind, name=body.name.strip() if body.name else None,
            capabilities=body.capabilities, agency=body.agency, home_zone=body.home_zone,
            home_x=body.home_x, home_y=body.home_y, shift=body.shift, status=body.status)
        old, new = to_builtins(before), to_builtins(after)
        changed = {k: {"from": old[k], "to": v} for k, v in new.items() if old.get(k) != v and k != "updated_at"}
        await store.audit(conn, who.subject, who.role.value, "unit_edit", after.id, changed)
    request.app[SERVICE].publish_ops(units=[after])
    return web.json_response(to_builtins(after))


@guarded(routes, "POST", "/api/units/{id}/retire", ACTORS, tag="units")
async def retire_unit(request: web.Request, who: Principal) -> web.Response:
    """Take a unit out of service (kept with its orders; its responder token stops working)."""
    async with request.app[POOL].acquire() as conn, conn.transaction():
        unit = await units.retire_unit(conn, request.match_info["id"])
        await store.audit(conn, who.subject, who.role.value, "unit_retire", unit.id, {})
    request.app[SERVICE].publish_ops(units=[unit])
    return web.json_response(to_builtins(unit))


@guarded(routes, "POST", "/api/units/{id}/token", (Role.COMMANDER,), tag="units")
async def issue_token(request: web.Request, who: Principal) -> web.Response:
    """Issue (or rotate) the responder token of a unit; shown once, only its hash is kept."""
    unit_id = request.match_info["id"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        token = await auth.create_unit_token(conn, unit_id, who.subject)
        await store.audit(conn, who.subject, who.role.value, "unit_token_issue", unit_id, {})
    # in the fragment, so the token never reaches a server log or a Referer
    return web.json_response({"unit_id": unit_id, "token": token, "link": f"/responder#token={token}"})


@guarded(routes, "GET", "/api/units/proposal", STAFF, tag="units")
async def proposal(request: web.Request, who: Principal) -> web.Response:
    """Available suitable units nearest first by walking distance to ?place= (zone or gate);
    ?kind= and ?capability= (repeatable) narrow who is suitable."""
    venue = request.app[VENUE]
    place = request.query.get("place", "")
    _known_place(venue, place, "place")
    try:
        kinds = [UnitKind(k) for k in request.query.getall("kind", [])]
        caps = [UnitCapability(c) for c in request.query.getall("capability", [])]
    except ValueError as err:
        raise bad_request(str(err), "kind") from None
    now = datetime.now(venue.event.starts_at.tzinfo if venue.event.starts_at else UTC)  # shifts: event time
    async with request.app[POOL].acquire() as conn:
        available = await dispatch.list_units(conn)
    found = propose(venue, available, place, kinds=kinds, capabilities=caps,
                    minute_of_day=now.hour * 60 + now.minute)
    return web.json_response([{"unit_id": c.unit_id, "kind": str(c.kind), "zone": c.zone,
                               "distance_m": c.distance_m} for c in found[:20]])
