"""REST routes for alerts, incidents, units, orders, the audit log and the OpenAPI description."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from command import dispatch, store
from command.appkeys import POOL, SERVICE, VENUE
from command.auth import ACTORS, STAFF, Principal, Role
from command.requests import bad_request, json_body
from command.routing import guarded, openapi, public
from command.service import alert_view, for_viewer
from eventguard.wire import to_builtins

routes = web.RouteTableDef()


def _int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None


def _str(body: dict[str, Any], key: str, *, required: bool = True, max_len: int = 500) -> str | None:
    v = body.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip() or len(v) > max_len:
        raise bad_request(f"'{key}' must be a non-empty string of at most {max_len} characters")
    return v.strip()


def _num(body: dict[str, Any], key: str) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise bad_request(f"'{key}' must be a number")
    return float(v)


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
    alert = await request.app[SERVICE].acknowledge_alert(_int(request, "id"), who.subject)
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "alert_ack", str(alert.id), {"kind": alert.kind.value})
    return web.json_response(to_builtins(alert_view(alert, request.app[SERVICE].suggestions)))


@guarded(routes, "POST", "/api/alerts/{id}/resolve", ACTORS, tag="alerts")
async def resolve_alert(request: web.Request, who: Principal) -> web.Response:
    """Resolve an open alert."""
    alert = await request.app[SERVICE].resolve_alert(_int(request, "id"), who.subject)
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "alert_resolve", str(alert.id),
                          {"kind": alert.kind.value})
    return web.json_response(to_builtins(alert_view(alert, request.app[SERVICE].suggestions)))


# ---- incidents ---------------------------------------------------------------------------------

INCIDENT_BODY = {"type": "object", "required": ["kind", "severity", "location"], "properties": {
    "kind": {"type": "string"}, "severity": {"enum": list(dispatch.SEVERITIES)},
    "location": {"type": "string"}, "note": {"type": "string"}, "x": {"type": "number"},
    "y": {"type": "number"}, "alert_ids": {"type": "array", "items": {"type": "integer"}}}}


@guarded(routes, "GET", "/api/incidents", STAFF, tag="incidents")
async def list_incidents(request: web.Request, who: Principal) -> web.Response:
    """Open incidents."""
    async with request.app[POOL].acquire() as conn:
        return web.json_response(to_builtins(await dispatch.list_incidents(conn)))


@guarded(routes, "POST", "/api/incidents", ACTORS, body=INCIDENT_BODY, tag="incidents")
async def open_incident(request: web.Request, who: Principal) -> web.Response:
    """Open an incident at a zone or gate."""
    body = await json_body(request)
    ids = body.get("alert_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise bad_request("'alert_ids' must be a list of integers")
    async with request.app[POOL].acquire() as conn:
        inc = await dispatch.open_incident(
            conn, kind=_str(body, "kind", max_len=40) or "", severity=_str(body, "severity", max_len=20) or "",
            location=_str(body, "location", max_len=80) or "", note=_str(body, "note", required=False) or "",
            by=who.subject, x=_num(body, "x"), y=_num(body, "y"), alert_ids=ids)
        await store.audit(conn, who.subject, who.role.value, "incident_open", str(inc.id), to_builtins(inc))
    request.app[SERVICE].publish_ops(incidents=[inc])
    return web.json_response(to_builtins(inc), status=201)


@guarded(routes, "POST", "/api/incidents/{id}/close", ACTORS, tag="incidents")
async def close_incident(request: web.Request, who: Principal) -> web.Response:
    """Close an incident."""
    async with request.app[POOL].acquire() as conn:
        inc = await dispatch.close_incident(conn, _int(request, "id"))
        await store.audit(conn, who.subject, who.role.value, "incident_close", str(inc.id), {})
    request.app[SERVICE].publish_ops(incidents=[inc])
    return web.json_response(to_builtins(inc))


# ---- units ---------------------------------------------------------------------------------------

UNIT_BODY = {"type": "object", "required": ["id", "kind", "name"], "properties": {
    "id": {"type": "string"}, "kind": {"enum": list(dispatch.UNIT_KINDS)}, "name": {"type": "string"},
    "status": {"enum": ["available", "dispatched", "busy", "off"]}, "x": {"type": "number"},
    "y": {"type": "number"}}}


@guarded(routes, "GET", "/api/units", STAFF, tag="units")
async def list_units(request: web.Request, who: Principal) -> web.Response:
    """Every unit with status and position."""
    async with request.app[POOL].acquire() as conn:
        return web.json_response(to_builtins(await dispatch.list_units(conn)))


@guarded(routes, "POST", "/api/units", ACTORS, body=UNIT_BODY, tag="units")
async def put_unit(request: web.Request, who: Principal) -> web.Response:
    """Create or update a unit."""
    body = await json_body(request)
    status = _str(body, "status", required=False) or "available"
    if status not in ("available", "dispatched", "busy", "off"):
        raise bad_request("'status' must be available, dispatched, busy or off")
    async with request.app[POOL].acquire() as conn:
        unit = await dispatch.upsert_unit(conn, unit_id=_str(body, "id", max_len=40) or "",
                                          kind=_str(body, "kind", max_len=20) or "",
                                          name=_str(body, "name", max_len=80) or "", status=status,
                                          x=_num(body, "x"), y=_num(body, "y"))
        await store.audit(conn, who.subject, who.role.value, "unit_update", unit.id, to_builtins(unit))
    request.app[SERVICE].publish_ops(units=[unit])
    return web.json_response(to_builtins(unit))


# ---- orders ----------------------------------------------------------------------------------------

ORDER_BODY = {"type": "object", "required": ["kind", "target"], "properties": {
    "kind": {"enum": list(dispatch.ORDER_KINDS)}, "target": {"type": "string"},
    "location": {"type": "string"}, "note": {"type": "string"},
    "params": {"type": "object"}, "incident_id": {"type": "integer"}}}


@guarded(routes, "GET", "/api/orders", STAFF, tag="orders")
async def list_orders(request: web.Request, who: Principal) -> web.Response:
    """Orders, newest first (?pending=1 for unacknowledged only)."""
    async with request.app[POOL].acquire() as conn:
        orders = await dispatch.list_orders(conn, pending_only=request.query.get("pending") == "1")
    return web.json_response(to_builtins(orders))


@guarded(routes, "POST", "/api/orders", ACTORS, body=ORDER_BODY, tag="orders")
async def issue_order(request: web.Request, who: Principal) -> web.Response:
    """Dispatch a unit, or order a gate to close/open a lane or divert."""
    body = await json_body(request)
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise bad_request("'params' must be an object")
    incident_id = body.get("incident_id")
    if incident_id is not None and (not isinstance(incident_id, int) or isinstance(incident_id, bool)):
        raise bad_request("'incident_id' must be an integer")
    venue = request.app[VENUE]
    async with request.app[POOL].acquire() as conn:
        order = await dispatch.issue_order(
            conn, kind=_str(body, "kind", max_len=20) or "", target=_str(body, "target", max_len=80) or "",
            by=who.subject, note=_str(body, "note", required=False, max_len=1000) or "",
            location=_str(body, "location", required=False, max_len=80), params=params,
            incident_id=incident_id, gate_ids=[g.id for g in venue.gates])
        await store.audit(conn, who.subject, who.role.value, "order_issue", str(order.order_id), to_builtins(order))
    svc = request.app[SERVICE]
    if order.kind in dispatch.GATE_ORDER_KINDS:
        await svc.deliver_order(order)
    svc.publish_ops(orders=[order])
    return web.json_response(to_builtins(order), status=201)


@guarded(routes, "POST", "/api/orders/{id}/ack", ACTORS, tag="orders")
async def ack_order(request: web.Request, who: Principal) -> web.Response:
    """Acknowledge an order on behalf of its receiver (e.g. a unit confirming by radio)."""
    async with request.app[POOL].acquire() as conn:
        order = await dispatch.acknowledge_order(conn, _int(request, "id"), who.subject)
        await store.audit(conn, who.subject, who.role.value, "order_ack", str(order.order_id), {})
    request.app[SERVICE].publish_ops(orders=[order])
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
