"""REST routes under /api/."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from command import auth, store
from command.auth import STAFF
from command.errors import AuthError
from command.keys import POOL, SERVICE, SETTINGS
from command.ratelimit import RateLimiter
from command.security import COOKIE, bearer, principal
from eventguard.wire import to_builtins

routes = web.RouteTableDef()
LOGIN_LIMIT = web.AppKey("login_limit", RateLimiter)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 with a clear message."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "body is not valid JSON"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    """Liveness and database reachability (no authentication, no details)."""
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        db = "ok"
    except Exception:  # noqa: BLE001 - health reports, never raises
        db = "unavailable"
    return web.json_response({"status": "ok", "database": db})


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    """Username + password -> session token (also set as an HttpOnly cookie)."""
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise bad_request("username and password are required strings")
    limiter = request.app[LOGIN_LIMIT]
    key = f"{request.remote}|{username}"
    if not limiter.allow(key, request.app[SERVICE].clock()):
        raise web.HTTPTooManyRequests(text=json.dumps({"error": "rate_limited",
                                                       "message": "too many login attempts; wait a minute"}),
                                      content_type="application/json")
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        try:
            token, who = await auth.login(conn, username, password, settings.session_ttl_s)
        except AuthError:
            await store.audit(conn, username, "-", "login_failed", None, {"remote": request.remote})
            raise
        await store.audit(conn, who.subject, who.role.value, "login", None, {"remote": request.remote})
    resp = web.json_response({"token": token, "username": who.subject, "role": who.role.value})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=int(settings.session_ttl_s),
                    secure=settings.tls_cert is not None)
    return resp


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON error body."""
    return web.HTTPBadRequest(text=json.dumps({"error": "bad_request", "message": message}),
                              content_type="application/json")


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    """End the caller's session."""
    await principal(request, *STAFF)
    token = bearer(request)
    async with request.app[POOL].acquire() as conn:
        if token:
            await auth.logout(conn, token)
    resp = web.json_response({"status": "logged_out"})
    resp.del_cookie(COOKIE)
    return resp


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    """Who the caller is."""
    who = await principal(request)
    return web.json_response({"subject": who.subject, "role": who.role.value})


@routes.get("/api/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    """The same picture /ws/live sends on connect."""
    await principal(request, *STAFF)
    return web.json_response(to_builtins(request.app[SERVICE].snapshot()))


