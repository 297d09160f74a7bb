"""Request authentication for REST and websockets: a bearer header (programs, gates) or the
session cookie (the pages; a browser sends it on a websocket upgrade too). Never a token in the
URL: URLs end up in logs, histories and Referer headers."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiohttp import web

from command import auth
from command.appkeys import POOL, SETTINGS
from command.auth import Principal, Role
from command.errors import AuthError

COOKIE = "eg_session"
CLOSE_REVOKED = 4401  # websocket close codes: the session ended or the account was disabled
CLOSE_ROLE_CHANGED = 4403  # the account's role changed: reconnect to get what the new role may see

log = logging.getLogger(__name__)


def bearer(request: web.Request) -> str | None:
    """The token a request carries, if any."""
    h = request.headers.get("Authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip() or None
    token = request.cookies.get(COOKIE)
    return token or None  # never from the URL: URLs end up in logs, histories and Referer headers


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


async def recheck(pool: asyncpg.Pool, token: str | None, who: Principal) -> tuple[int, str] | None:
    """Resolve an open socket's credentials again: None while they still name the same subject and
    role (or the database cannot tell now: an outage is not a revocation), else the websocket
    close code and why (logged out, expired, disabled, demoted, promoted, a token rotated)."""
    try:
        async with pool.acquire(timeout=5) as conn:
            now = await auth.resolve(conn, token) if token else None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        log.debug("session check of %s postponed: %s", who.subject, err)
        return None
    if now == who:
        return None
    return ((CLOSE_REVOKED, "session ended") if now is None else
            (CLOSE_ROLE_CHANGED, f"role changed to {now.role}; reconnect"))


async def watch_session(request: web.Request, who: Principal, ws: web.WebSocketResponse) -> None:
    """Keep checking a websocket's credentials while it is open, as every REST request is checked:
    once they change (see `recheck`) the socket is closed with a code saying why."""
    token = bearer(request)
    every = request.app[SETTINGS].session_recheck_s
    while not ws.closed:
        await asyncio.sleep(every)
        ended = await recheck(request.app[POOL], token, who)
        if ended is not None:
            code, why = ended
            log.info("closing the websocket of %s: %s", who.subject, why)
            await ws.close(code=code, message=why.encode())
            return
