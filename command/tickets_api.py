"""REST routes for tickets: revocation (gates learn it through the list sync triggers)."""

from __future__ import annotations

from aiohttp import web

from command import issuing, store
from command.appkeys import POOL
from command.auth import ACTORS, Principal
from command.errors import Conflict, NotFound
from command.requests import read_body
from command.routing import guarded
from eventguard.wire import RevokeBody

routes = web.RouteTableDef()

@guarded(routes, "POST", "/api/tickets/{id}/revoke", ACTORS, body=RevokeBody, tag="tickets")
async def revoke(request: web.Request, who: Principal) -> web.Response:
    """Revoke a ticket: 404 if unknown, 409 if already revoked. Audited."""
    reason = (await read_body(request, RevokeBody)).reason
    ticket_id = request.match_info["id"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if not await issuing.revoke(conn, ticket_id, reason.strip()):
            row = await conn.fetchrow("SELECT revoked_at FROM tickets WHERE ticket_id = $1", ticket_id)
            if row is None:
                raise NotFound(f"no ticket {ticket_id}")
            raise Conflict(f"ticket {ticket_id} was revoked already")
        row = await conn.fetchrow("SELECT event_id, revoked_at FROM tickets WHERE ticket_id = $1", ticket_id)
        assert row is not None
        await store.audit(conn, who.subject, who.role.value, "ticket_revoke", ticket_id,
                          {"event_id": row["event_id"], "reason": reason.strip()})
    return web.json_response({"ticket_id": ticket_id, "event_id": row["event_id"], "revoked": True,
                              "revoked_at": row["revoked_at"].timestamp(), "reason": reason.strip()})
