"""REST routes for the incidents board (issue 20): assign a unit, add a note, close with an
outcome, read the timeline. Creating and listing incidents stay in ops_api.py."""

from __future__ import annotations

from aiohttp import web

from command import dispatch, incidents, store
from command.appkeys import POOL, SERVICE
from command.auth import ACTORS, STAFF, Principal
from command.errors import Conflict
from command.requests import path_int, read_body
from command.routing import guarded
from eventguard.codes import OrderKind
from eventguard.wire import IncidentAssignBody, IncidentCloseBody, IncidentNoteBody, to_builtins

routes = web.RouteTableDef()



@guarded(routes, "GET", "/api/incidents/{id}/timeline", STAFF, tag="incidents")
async def timeline(request: web.Request, who: Principal) -> web.Response:
    """The incident, its orders and every step (created, assigned, acknowledged, reports, notes,
    escalations, closed) oldest first."""
    async with request.app[POOL].acquire() as conn:
        inc = await incidents.get_incident(conn, path_int(request))
        orders = await incidents.incident_orders(conn, inc.id)
        rows = await incidents.timeline_rows(conn, inc, orders)
    return web.json_response({"incident": to_builtins(inc), "orders": to_builtins(orders),
                              "timeline": to_builtins(incidents.timeline(inc, orders, rows))})


@guarded(routes, "POST", "/api/incidents/{id}/assign", ACTORS, body=IncidentAssignBody, tag="incidents")
async def assign(request: web.Request, who: Principal) -> web.Response:
    """Dispatch a unit to the incident's place (an order carrying the incident's id)."""
    body = await read_body(request, IncidentAssignBody)
    svc = request.app[SERVICE]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        inc = await incidents.get_incident(conn, path_int(request))
        if inc.status != "open":
            raise Conflict(f"incident {inc.id} is closed")
        alert_id = inc.alert_ids[0] if inc.alert_ids else None
        if alert_id is not None and await conn.fetchval("SELECT 1 FROM alerts WHERE id = $1", alert_id) is None:
            alert_id = None
        order = await dispatch.issue_order(
            conn, kind=OrderKind.DISPATCH, target=body.unit_id.strip(), by=who.subject,
            note=(body.note or f"incident #{inc.id}: {inc.kind} ({inc.severity})").strip(),
            location=inc.location, incident_id=inc.id, alert_id=alert_id)
        await store.audit(conn, who.subject, who.role.value, "order_issue", str(order.order_id),
                          await dispatch.issue_details(conn, order))
        unit = next((u for u in await dispatch.list_units(conn) if u.id == order.target), None)
    svc.publish_ops(orders=[order], units=[unit] if unit else [])
    return web.json_response(to_builtins(order), status=201)


@guarded(routes, "POST", "/api/incidents/{id}/notes", ACTORS, body=IncidentNoteBody, tag="incidents")
async def note(request: web.Request, who: Principal) -> web.Response:
    """A note on the incident's timeline (audited; the timeline is read from the audit log)."""
    body = await read_body(request, IncidentNoteBody)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        inc = await incidents.get_incident(conn, path_int(request))
        await store.audit(conn, who.subject, who.role.value, "incident_note", str(inc.id), {"note": body.note.strip()})
    return web.json_response({"incident_id": inc.id, "note": body.note.strip()}, status=201)


@guarded(routes, "POST", "/api/incidents/{id}/close", ACTORS, body=IncidentCloseBody, tag="incidents")
async def close(request: web.Request, who: Principal) -> web.Response:
    """Close an incident with its outcome (closed vocabulary) and an optional last note."""
    body = await read_body(request, IncidentCloseBody)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        inc = await incidents.close_incident(conn, path_int(request), body.outcome, who.subject)
        freed = await incidents.release_units(conn, inc.id)
        await store.audit(conn, who.subject, who.role.value, "incident_close", str(inc.id),
                          {"outcome": body.outcome.value, "note": (body.note or "").strip(),
                           "units_released": [u.id for u in freed]})
    request.app[SERVICE].publish_ops(incidents=[inc], units=freed)
    return web.json_response(to_builtins(inc))
