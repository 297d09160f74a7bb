"""REST routes for alerts, incidents, units, orders, the audit log and the OpenAPI description."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from command import dispatch, proposals, store, units
from command.appkeys import POOL, SERVICE, VENUE
from command.auth import ACTORS, STAFF, Principal, Role
from command.requests import bad_request, path_int, read_body
from command.routing import guarded, openapi, public
from command.service import alert_view, for_viewer
from command.walking import propose
from eventguard.codes import GATE_ORDER_KINDS, OrderKind, UnitStatus
from eventguard.wire import IncidentBody, OrderBody, UnitBody, to_builtins

routes = web.RouteTableDef()



# ---- alerts ---------------------------------------------------------------------------------


@guarded(routes, "GET", "/api/alerts", STAFF, tag="alerts")
async def list_alerts(request: web.Request, who: Principal) -> web.Response:
    """Open alerts, most urgent first."""
    svc = request.app[SERVICE]
    views = [alert_view(a, svc.suggestions) for a in svc.book.open_alerts()]
    return web.json_response([to_builtins(for_viewer(v) if who.role is Role.VIEWER else v) for v in views])


@guarded(routes, "POST", "/api/alerts/{id}/ack", ACTORS, tag="alerts")
async def ack_alert(request: web.Request, who: Principal) -> web.Response:
    """Acknowledge an open alert."""
    alert = await request.app[SERVICE].acknowledge_alert(path_int(request), who.subject)
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "alert_ack", str(alert.id), {"kind": alert.kind.value})
    return web.json_response(to_builtins(alert_view(alert, request.app[SERVICE].suggestions)))


@guarded(routes, "POST", "/api/alerts/{id}/resolve", ACTORS, tag="alerts")
async def resolve_alert(request: web.Request, who: Principal) -> web.Response:
    """Resolve an open alert."""
    alert = await request.app[SERVICE].resolve_alert(path_int(request), who.subject)
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "alert_resolve", str(alert.id),
                          {"kind": alert.kind.value})
    return web.json_response(to_builtins(alert_view(alert, request.app[SERVICE].suggestions)))


# ---- incidents ---------------------------------------------------------------------------------

@guarded(routes, "GET", "/api/incidents", STAFF, tag="incidents")
async def list_incidents(request: web.Request, who: Principal) -> web.Response:
    """Open incidents (?all=1: the closed ones too, newest first)."""
    async with request.app[POOL].acquire() as conn:
        found = await dispatch.list_incidents(conn, open_only=request.query.get("all") != "1")
        return web.json_response(to_builtins(found))


@guarded(routes, "POST", "/api/incidents", ACTORS, body=IncidentBody, tag="incidents")
async def open_incident(request: web.Request, who: Principal) -> web.Response:
    """Open an incident at a zone or gate."""
    body = await read_body(request, IncidentBody)
    async with request.app[POOL].acquire() as conn:
        inc = await dispatch.open_incident(
            conn, kind=body.kind.strip(), severity=body.severity, location=body.location.strip(),
            note=(body.note or "").strip(), by=who.subject, x=body.x, y=body.y, alert_ids=body.alert_ids or ())
        await store.audit(conn, who.subject, who.role.value, "incident_open", str(inc.id), to_builtins(inc))
    request.app[SERVICE].publish_ops(incidents=[inc])
    return web.json_response(to_builtins(inc), status=201)


# ---- units ---------------------------------------------------------------------------------------

@guarded(routes, "GET", "/api/units", STAFF, tag="units")
async def list_units(request: web.Request, who: Principal) -> web.Response:
    """Every unit in service with status and position (?retired=1: the retired ones too)."""
    async with request.app[POOL].acquire() as conn:
        units = await dispatch.list_units(conn, include_retired=request.query.get("retired") == "1")
        return web.json_response(to_builtins(units))


@guarded(routes, "POST", "/api/units", ACTORS, body=UnitBody, tag="units")
async def put_unit(request: web.Request, who: Principal) -> web.Response:
    """Create or update a unit."""
    body = await read_body(request, UnitBody)
    async with request.app[POOL].acquire() as conn:
        unit = await dispatch.upsert_unit(conn, unit_id=body.id.strip(), kind=body.kind, name=body.name.strip(),
                                          status=body.status or UnitStatus.AVAILABLE, x=body.x, y=body.y)
        await store.audit(conn, who.subject, who.role.value, "unit_update", unit.id, to_builtins(unit))
    request.app[SERVICE].publish_ops(units=[unit])
    return web.json_response(to_builtins(unit))


# ---- orders ----------------------------------------------------------------------------------------

@guarded(routes, "GET", "/api/orders", STAFF, tag="orders")
async def list_orders(request: web.Request, who: Principal) -> web.Response:
    """Orders, newest first (?pending=1 for unacknowledged only)."""
    async with request.app[POOL].acquire() as conn:
        orders = await dispatch.list_orders(conn, pending_only=request.query.get("pending") == "1")
    return web.json_response(to_builtins(orders))


@guarded(routes, "POST", "/api/orders", ACTORS, body=OrderBody, tag="orders")
async def issue_order(request: web.Request, who: Principal) -> web.Response:
    """Dispatch a unit, or order a gate to close/open a lane or divert."""
    body = await read_body(request, OrderBody)
    venue = request.app[VENUE]
    async with request.app[POOL].acquire() as conn:
        order = await dispatch.issue_order(
            conn, kind=body.kind, target=body.target.strip(), by=who.subject, note=(body.note or "").strip(),
            location=body.location.strip() if body.location else None, params=dict(body.params or {}),
            incident_id=body.incident_id, gate_ids=[g.id for g in venue.gates], alert_id=body.alert_id)
        await store.audit(conn, who.subject, who.role.value, "order_issue", str(order.order_id),
                          await dispatch.issue_details(conn, order))
        sent = await units.get_unit(conn, order.target) if order.kind == OrderKind.DISPATCH else None
    svc = request.app[SERVICE]
    if order.kind in GATE_ORDER_KINDS:
        await svc.deliver_order(order)
    svc.publish_ops(orders=[order], units=[sent] if sent else [])  # the map shows the unit dispatched
    return web.json_response(to_builtins(order), status=201)


@guarded(routes, "POST", "/api/orders/{id}/ack", ACTORS, tag="orders")
async def ack_order(request: web.Request, who: Principal) -> web.Response:
    """Acknowledge an order on behalf of its receiver (e.g. a unit confirming by radio)."""
    async with request.app[POOL].acquire() as conn:
        order = await dispatch.acknowledge_order(conn, path_int(request), who.subject)
        await store.audit(conn, who.subject, who.role.value, "order_ack", str(order.order_id), {})
    request.app[SERVICE].publish_ops(orders=[order])
    return web.json_response(to_builtins(order))


@guarded(routes, "POST", "/api/orders/{id}/cancel", ACTORS, tag="orders")
async def cancel_order(request: web.Request, who: Principal) -> web.Response:
    """Call off an order where `dispatch.call_off_refusal` allows it (409 otherwise): a unit's
    dispatch not acknowledged yet (its page shows it at once; the unit is available again unless
    another order or open incident holds it), or a gate's divert or hold, pending or acknowledged
    (the gate's terminal drops it at once, or when the gate reconnects). Audited."""
    async with request.app[POOL].acquire() as conn, conn.transaction():
        order, freed = await dispatch.cancel_order(conn, path_int(request))
        await store.audit(conn, who.subject, who.role.value, "order_cancel", str(order.order_id),
                          {"target": order.target, "kind": str(order.kind), "unit_released": freed is not None})
    svc = request.app[SERVICE]
    if order.kind in GATE_ORDER_KINDS:
        await svc.deliver_order(order)
    svc.publish_ops(orders=[order], units=[freed] if freed else [])
    return web.json_response(to_builtins(order))


# ---- audit and description --------------------------------------------------------------------------


@guarded(routes, "GET", "/api/audit", (Role.COMMANDER,), tag="audit")
async def audit_log(request: web.Request, who: Principal) -> web.Response:
    """The newest audit rows (commander only)."""
    try:
        limit = min(max(int(request.query.get("limit", "200")), 1), 1000)
    except ValueError:
        raise bad_request("limit must be an integer") from None
    async with request.app[POOL].acquire() as conn:
        rows = await conn.fetch("SELECT id, at, actor, role, action, subject, details FROM audit_log"
                                " ORDER BY id DESC LIMIT $1", limit)
        await store.audit(conn, who.subject, who.role.value, "audit_view", None, {"limit": limit})
    return web.json_response([{**dict(r), "at": r["at"].timestamp()} for r in rows], dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=lambda o: json.loads(o) if isinstance(o, str) else str(o))


@public(routes, "GET", "/api/openapi.json", tag="meta")
async def openapi_json(request: web.Request) -> web.Response:
    """OpenAPI description of this API."""
    return web.json_response(openapi("EventGuard command server", "0.1.0"))


# ---- one click from an alert's suggestion to its order (issue 20) -----------------------------


@guarded(routes, "GET", "/api/alerts/{id}/orders", ACTORS, tag="alerts")
async def alert_orders(request: web.Request, who: Principal) -> web.Response:
    """The orders that would carry out an open alert's suggestions (command/proposals.py), ready
    to send with its id; a dispatch names the nearest available suitable unit, or none."""
    svc, venue = request.app[SERVICE], request.app[VENUE]
    alert = svc.book.by_id(path_int(request))
    proposed = proposals.orders_for_alert(alert.kind, alert.subject, alert.details,
                                          svc.suggestions.get(alert.subject, []),
                                          {g.id: g.lanes for g in venue.gates}, svc.closed_lanes)
    out = []
    units = None
    for p in proposed:
        target = p.target
        distance = None
        if p.kind == OrderKind.DISPATCH and p.location is not None:
            if units is None:
                async with request.app[POOL].acquire() as conn:
                    units = await dispatch.list_units(conn)
            now = datetime.now(venue.event.starts_at.tzinfo if venue.event.starts_at else UTC)
            found = (propose(venue, units, p.location, kinds=p.unit_kinds, capabilities=p.capabilities,
                             minute_of_day=now.hour * 60 + now.minute)
                     or propose(venue, units, p.location, minute_of_day=now.hour * 60 + now.minute))
            target = found[0].unit_id if found else None
            distance = found[0].distance_m if found else None
        out.append({"kind": p.kind.value, "target": target, "location": p.location, "params": dict(p.params),
                    "note": f"alert #{alert.id}: {p.note}", "alert_id": alert.id, "why": p.why,
                    "distance_m": distance})
    return web.json_response(out)
