"""Request authentication for REST and websockets (bearer header, session cookie; ?token= on a
websocket upgrade only, where a browser cannot set a header: URLs end up in logs and histories)."""

from __future__ import annotations

from aiohttp import web

from command import auth
from command.appkeys import POOL
from command.auth import Principal, Role
from command.errors import AuthError

COOKIE = "eg_session"


def bearer(request: web.Request) -> str | None:
    """The token a request carries, if any."""
    h = request.headers.get("Authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip() or None
    token = request.cookies.get(COOKIE)
    if not token and request.headers.get("Upgrade", "").lower() == "websocket":
        token = request.query.get("token")
    return token or None


async def principal(request: web.Request, *roles: Role) -> Principal:
    """Authenticate the request and require one of roles (AuthError/Forbidden otherwise)."""
    token = bearer(request)
    if not token:
        raise AuthError("authentication required")
    async with request.app[POOL].acquire() as conn:
        who = await auth.resolve(conn, token)
    if who is None:
        raise AuthError("invalid or expired token")
    return who.require(*roles) if roles else who
