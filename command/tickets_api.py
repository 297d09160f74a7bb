"""REST routes for tickets: the event's ticket list (JSON or CSV export) and revocation (gates
learn it through the list sync triggers)."""

from __future__ import annotations

import asyncio
import csv
import io
import time

from aiohttp import web

from command import issuing, store
from command.appkeys import POOL, SETTINGS, VENUE
from command.auth import ACTORS, Principal
from command.errors import Conflict, NotFound
from command.requests import bad_request, read_body
from command.routing import guarded
from eventguard.wire import ReissueBody, RevokeBody

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
                 "valid_until", "issued_at", "revoke_reason", "reissued_as", "payload")


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


# ---- lost or stolen tickets: reissue (issue 15) ----------------------------------------------


@guarded(routes, "POST", "/api/tickets/{id}/reissue", ACTORS, body=ReissueBody, tag="tickets")
async def reissue(request: web.Request, who: Principal) -> web.Response:
    """Reissue a lost or stolen ticket: revoke it and issue a new one for the same registration.
    404 if unknown, 409 if revoked already; audited. Gates refuse the old one as `ticket_reissued`."""
    reason = (await read_body(request, ReissueBody)).reason.strip()
    ticket_id = request.match_info["id"]
    event_id = request.app[VENUE].event.id
    key_dir = request.app[SETTINGS].key_dir
    async with request.app[POOL].acquire() as conn, conn.transaction():
        key_id, key = await issuing.latest_key(conn, event_id, key_dir)
        try:
            new, payload = await issuing.reissue(conn, ticket_id, event_id=event_id, key_id=key_id, key=key,
                                                 now=int(time.time()), reason=reason)
        except issuing.ReissueRefused as err:
            if err.code == "already_revoked":
                raise Conflict(str(err)) from None
            raise NotFound(f"no ticket {ticket_id}") from None
        await store.audit(conn, who.subject, who.role.value, "ticket_reissue", ticket_id,
                          {"event_id": event_id, "reason": reason, "new_ticket_id": new.ticket_id})
    return web.json_response({"ticket_id": ticket_id, "event_id": event_id, "revoked": True, "reason": reason,
                              "new_ticket_id": new.ticket_id, "payload": payload, "holder_ref": new.holder_ref,
                              "kind": new.kind})


@guarded(routes, "GET", "/api/tickets/{id}/qr.png", ACTORS, tag="tickets")
async def qr_png(request: web.Request, who: Principal) -> web.Response:
    """The QR of a ticket that is not revoked, as a PNG to hand to its holder (after a reissue);
    404 for an unknown or revoked ticket. Audited: a QR is the ticket."""
    ticket_id = request.match_info["id"]
    async with request.app[POOL].acquire() as conn:
        payload = await conn.fetchval("SELECT payload FROM tickets WHERE ticket_id = $1 AND event_id = $2"
                                      " AND revoked_at IS NULL", ticket_id, request.app[VENUE].event.id)
        if payload is None:
            raise NotFound(f"no ticket {ticket_id} in force")
        await store.audit(conn, who.subject, who.role.value, "ticket_qr_view", ticket_id, {})
    png = await asyncio.to_thread(issuing.qr_png_bytes, payload)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})
