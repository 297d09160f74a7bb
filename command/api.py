"""REST routes under /api/."""

from __future__ import annotations

import json

from aiohttp import web

from command import auth, store
from command.appkeys import POOL, SERVICE, SETTINGS, VENUE
from command.auth import STAFF, PasswordChecks, Principal, Role
from command.errors import AuthError
from command.ratelimit import LoginLimits
from command.requests import read_body
from command.routing import guarded, public
from command.security import COOKIE, bearer
from command.service import snapshot_for_viewer
from eventguard.wire import LoginBody, to_builtins

routes = web.RouteTableDef()
LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)
PASSWORD_CHECKS = web.AppKey("password_checks", PasswordChecks)


@public(routes, "GET", "/api/health", tag="meta")
async def health(request: web.Request) -> web.Response:
    """Liveness and database reachability (no authentication, no details)."""
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        db = "ok"
    except Exception:  # noqa: BLE001 - health reports, never raises
        db = "unavailable"
    return web.json_response({"status": "ok", "database": db})


@public(routes, "POST", "/api/login", body=LoginBody, tag="auth")
async def login(request: web.Request) -> web.Response:
    """Username + password -> session token (also set as an HttpOnly cookie)."""
    body = await read_body(request, LoginBody)
    username, password = body.username, body.password
    limits, clock, client = request.app[LOGIN_LIMITS], request.app[SERVICE].clock, request.remote or "-"
    if not limits.allowed(client, username, clock()):
        raise web.HTTPTooManyRequests(text=json.dumps({"error": "rate_limited",
                                                       "message": "too many failed logins; wait a minute"}),
                                      content_type="application/json", headers={"Retry-After": "60"})
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        try:
            token, who = await auth.login(conn, username, password, settings.session_ttl_s,
                                          request.app[PASSWORD_CHECKS])
        except AuthError:
            limits.failed(client, username, clock())
            await store.audit(conn, username, "-", "login_failed", None, {"remote": request.remote})
            raise
        await store.audit(conn, who.subject, who.role.value, "login", None, {"remote": request.remote})
    resp = web.json_response({"token": token, "username": who.subject, "role": who.role.value})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=int(settings.session_ttl_s),
                    secure=settings.tls_cert is not None)
    return resp


@guarded(routes, "POST", "/api/logout", STAFF, tag="auth")
async def logout(request: web.Request, who: Principal) -> web.Response:
    """End the caller's session."""
    token = bearer(request)
    async with request.app[POOL].acquire() as conn:
        if token:
            await auth.logout(conn, token)
    resp = web.json_response({"status": "logged_out"})
    resp.del_cookie(COOKIE)
    return resp


@guarded(routes, "GET", "/api/me", tuple(Role), tag="auth")
async def me(request: web.Request, who: Principal) -> web.Response:
    """Who the caller is."""
    return web.json_response({"subject": who.subject, "role": who.role.value})


@guarded(routes, "GET", "/api/snapshot", STAFF, tag="live")
async def snapshot(request: web.Request, who: Principal) -> web.Response:
    """The same picture /ws/live sends on connect (a viewer's without screening details)."""
    snap = await request.app[SERVICE].snapshot_async()
    return web.json_response(to_builtins(snapshot_for_viewer(snap) if who.role is Role.VIEWER else snap))


@guarded(routes, "GET", "/api/venue", STAFF, tag="live")
async def venue_plan(request: web.Request, who: Principal) -> web.Response:
    """The venue plan the live map draws: zone polygons and gate positions, in metres."""
    v = request.app[VENUE]
    return web.json_response({
        "event": {"id": v.event.id, "name": v.event.name},
        "zones": [{"id": z.id, "name": z.name, "area_m2": z.area_m2, "capacity": z.capacity,
                   "polygon": [list(p) for p in z.polygon]} for z in v.zones],
        "gates": [{"id": g.id, "name": g.name, "zone": g.zone, "lanes": g.lanes,
                   "position": list(g.position),
                   # the gate's terminal page (issue 15), same scheme as this page; None: address unknown
                   "terminal": f"//{g.address}/" if g.address else None} for g in v.gates],
        "connections": [{"a": c.a, "b": c.b, "width_m": c.width_m} for c in v.connections],
        "thresholds": {"warning_density": v.thresholds.warning_density,
                       "critical_density": v.thresholds.critical_density},
        # crowd sensing (issue 18): where the cameras are and what they count
        "cameras": [{"id": c.id, "name": c.name, "position": list(c.position) if c.position else None,
                     "zones": list(c.zones), "lines": [{"id": ln.id, "from_zone": ln.from_zone,
                                                        "to_zone": ln.to_zone} for ln in c.lines]}
                    for c in v.cameras],
    })


