"""REST routes for tickets: the event's ticket list (JSON or CSV export) and revocation (gates
learn it through the list sync triggers)."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from command import issuing, store
from command.appkeys import POOL, VENUE
from command.auth import ACTORS, Principal
from command.errors import Conflict, NotFound
from command.requests import bad_request, read_body
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


EXPORT_FIELDS = ("ticket_id", "holder_ref", "holder_name", "kind", "entrances", "status", "valid_from",
                 "valid_until", "issued_at", "revoke_reason", "payload")


@guarded(routes, "GET", "/api/tickets", ACTORS, tag="tickets")
async def export(request: web.Request, who: Principal) -> web.Response:
    """The event's tickets (`?format=csv` for a spreadsheet); the export is audited."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise bad_request("format must be json or csv")
    event_id = request.app[VENUE].event.id
    async with request.app[POOL].acquire() as conn:
        rows = await issuing.list_tickets(conn, event_id)
        await store.audit(conn, who.subject, who.role.value, "tickets_export", event_id,
                          {"count": len(rows), "format": fmt})
    if fmt == "json":
        return web.json_response({"event_id": event_id, "tickets": rows})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return web.Response(text=buf.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="tickets-{event_id}.csv"'})
