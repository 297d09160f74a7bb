"""The responder page for phones and its REST routes: a unit signs in with the token a commander
issued, sees and acknowledges its orders, reports status and position; its orders and the
evacuation are pushed on /ws/responder (command/responder_ws.py). Least privilege: the
`responder` role is bound to one unit and reaches only these routes and that socket."""

from __future__ import annotations

from aiohttp import web

from command import auth, dispatch, store, units
from command.appkeys import POOL, SERVICE, SETTINGS, VENUE
from command.auth import Principal, Role
from command.errors import AuthError
from command.requests import bad_request, path_int, read_body
from command.routing import guarded, public
from command.security import COOKIE
from command.walking import place_zone, zone_at
from eventguard.codes import OrderKind
from eventguard.wire import ResponderLoginBody, ResponderReportBody, to_builtins

routes = web.RouteTableDef()
RESPONDER = (Role.RESPONDER,)
RESPONDER_COOKIE_S = 24 * 3600  # a shift; the token itself lasts until rotated or the unit retires


async def page(request: web.Request) -> web.StreamResponse:
    """The responder page (signs in from the #token= fragment of the link a commander issued)."""
    return web.FileResponse(request.app[SETTINGS].web_dir / "responder.html")


@public(routes, "POST", "/api/responder/login", body=ResponderLoginBody, tag="responder")
async def login(request: web.Request) -> web.Response:
    """A unit's token -> an HttpOnly session cookie for the responder page."""
    body = await read_body(request, ResponderLoginBody)
    async with request.app[POOL].acquire() as conn:
        who = await auth.unit_principal(conn, body.token)
        if who is None:
            await store.audit(conn, "-", "-", "responder_login_failed", None, {"remote": request.remote})
            raise AuthError("unknown or revoked unit token")
        await store.audit(conn, who.subject, who.role.value, "responder_login", who.subject,
                          {"remote": request.remote})
    resp = web.json_response({"unit_id": who.subject, "role": who.role.value})
    resp.set_cookie(COOKIE, body.token, httponly=True, samesite="Strict", max_age=RESPONDER_COOKIE_S,
                    secure=request.app[SETTINGS].tls_cert is not None)
    return resp


@guarded(routes, "GET", "/api/responder/me", RESPONDER, tag="responder")
async def me(request: web.Request, who: Principal) -> web.Response:
    """The signed-in unit and the venue plan it taps its position on."""
    v = request.app[VENUE]
    async with request.app[POOL].acquire() as conn:
        unit = await units.get_unit(conn, who.subject)
    return web.json_response({
        "unit": to_builtins(unit), "event": {"id": v.event.id, "name": v.event.name},
        "zones": [{"id": z.id, "name": z.name, "polygon": [list(p) for p in z.polygon]} for z in v.zones],
        "gates": [{"id": g.id, "name": g.name, "zone": g.zone, "position": list(g.position)} for g in v.gates],
    })


@guarded(routes, "GET", "/api/responder/orders", RESPONDER, tag="responder")
async def orders(request: web.Request, who: Principal) -> web.Response:
    """This unit's orders, newest first (escalated ones are overdue: acknowledge now); the page
    is pushed them on /ws/responder and reads this only while that socket is down."""
    async with request.app[POOL].acquire() as conn:
        found = await dispatch.list_orders(conn, target=who.subject, kind=OrderKind.DISPATCH)
    return web.json_response(to_builtins(found))


@guarded(routes, "POST", "/api/responder/orders/{id}/ack", RESPONDER, tag="responder")
async def ack(request: web.Request, who: Principal) -> web.Response:
    """Acknowledge one of this unit's orders."""
    order_id = path_int(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        order = await dispatch.acknowledge_order(conn, order_id, who.subject, target=who.subject,
                                                 kind=OrderKind.DISPATCH)
        await store.audit(conn, who.subject, who.role.value, "order_ack", str(order.order_id),
                          {"alert_id": order.alert_id} if order.alert_id else {})
    request.app[SERVICE].publish_ops(orders=[order])
    return web.json_response(to_builtins(order))


@guarded(routes, "POST", "/api/responder/report", RESPONDER, body=ResponderReportBody, tag="responder")
async def report(request: web.Request, who: Principal) -> web.Response:
    """The unit's status and position (a tap on the plan or the phone's geolocation in venue metres)."""
    body = await read_body(request, ResponderReportBody)
    venue = request.app[VENUE]
    if (body.x is None) != (body.y is None):
        raise bad_request("x and y come together", "x")
    zone = body.zone
    if zone is not None and place_zone(venue, zone) is None:
        raise bad_request("zone must be a zone or gate of the venue", "zone")
    if zone is None and body.x is not None and body.y is not None:
        zone = zone_at(venue, body.x, body.y)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        unit = await units.report(conn, who.subject, status=body.status, x=body.x, y=body.y,
                                  zone=place_zone(venue, zone) if zone else None)
        await store.audit(conn, who.subject, who.role.value, "unit_report", unit.id,
                          {"status": unit.status, "x": unit.x, "y": unit.y, "zone": unit.zone})
    request.app[SERVICE].publish_ops(units=[unit])
    return web.json_response(to_builtins(unit))
