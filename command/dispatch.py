"""Incidents, units and orders: thin store functions and the pure escalation rule."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from command.errors import Conflict, NotFound
from eventguard.codes import IncidentSeverity, OrderKind, OrderStatus, UnitKind
from eventguard.wire import IncidentView, Order, UnitView, to_builtins

ORDER_KINDS = tuple(OrderKind)
UNIT_KINDS = tuple(UnitKind)
SEVERITIES = tuple(IncidentSeverity)


def _t(v: Any) -> float:
    return float(v.timestamp()) if v is not None else 0.0


def incident_view(r: asyncpg.Record) -> IncidentView:
    """Row -> wire view."""
    return IncidentView(id=r["id"], kind=r["kind"], severity=r["severity"], location=r["location"],
                        status=r["status"], note=r["note"], x=r["x"], y=r["y"],
                        alert_ids=tuple(r["alert_ids"]), opened_by=r["opened_by"],
                        opened_at=_t(r["opened_at"]), outcome=r["outcome"], closed_by=r["closed_by"],
                        closed_at=_t(r["closed_at"]) if r["closed_at"] else None)


def unit_view(r: asyncpg.Record) -> UnitView:
    """Row -> wire view."""
    return UnitView(id=r["id"], kind=r["kind"], name=r["name"], status=r["status"], x=r["x"], y=r["y"],
                    capabilities=tuple(r["capabilities"]), agency=r["agency"], home_zone=r["home_zone"],
                    home_x=r["home_x"], home_y=r["home_y"], zone=r["zone"], shift=r["shift"],
                    retired=r["retired_at"] is not None, updated_at=_t(r["updated_at"]))


def order_view(r: asyncpg.Record) -> Order:
    """Row -> wire message."""
    return Order(order_id=r["id"], kind=r["kind"], target=r["target"], location=r["location"],
                 note=r["note"], params=json.loads(r["params"]) if isinstance(r["params"], str) else r["params"],
                 status=r["status"], issued_by=r["issued_by"], issued_at=_t(r["issued_at"]),
                 ack_by=r["ack_by"], ack_at=_t(r["ack_at"]) if r["ack_at"] else None,
                 incident_id=r["incident_id"], alert_id=r["alert_id"])


async def open_incident(conn: asyncpg.Connection, *, kind: str, severity: str, location: str,
                        note: str, by: str, x: float | None = None, y: float | None = None,
                        alert_ids: Sequence[int] = ()) -> IncidentView:
    """Create an incident."""
    if severity not in SEVERITIES:
        raise Conflict(f"severity must be one of {', '.join(SEVERITIES)}")
    r = await conn.fetchrow(
        "INSERT INTO incidents (kind, severity, location, note, opened_by, x, y, alert_ids)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        kind, severity, location, note, by, x, y, list(alert_ids))
    return incident_view(r)


async def list_incidents(conn: asyncpg.Connection, open_only: bool = True) -> list[IncidentView]:
    """Incidents, newest first."""
    rows = await conn.fetch("SELECT * FROM incidents WHERE ($1 = false OR status = 'open')"
                            " ORDER BY id DESC LIMIT 500", open_only)
    return [incident_view(r) for r in rows]


async def upsert_unit(conn: asyncpg.Connection, *, unit_id: str, kind: str, name: str,
                      status: str = "available", x: float | None = None, y: float | None = None) -> UnitView:
    """Create or update a unit (status and position)."""
    if kind not in UNIT_KINDS:
        raise Conflict(f"unit kind must be one of {', '.join(UNIT_KINDS)}")
    r = await conn.fetchrow(
        "INSERT INTO units (id, kind, name, status, x, y) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,"
        " status = EXCLUDED.status, x = EXCLUDED.x, y = EXCLUDED.y, updated_at = now() RETURNING *",
        unit_id, kind, name, status, x, y)
    return unit_view(r)


async def list_units(conn: asyncpg.Connection, include_retired: bool = False) -> list[UnitView]:
    """Every unit in service (and the retired ones when asked)."""
    return [unit_view(r) for r in await conn.fetch(
        "SELECT * FROM units WHERE ($1 OR retired_at IS NULL) ORDER BY id", include_retired)]


async def issue_order(conn: asyncpg.Connection, *, kind: str, target: str, by: str, note: str = "",
                      location: str | None = None, params: dict[str, Any] | None = None,
                      incident_id: int | None = None, gate_ids: Sequence[str] = (),
                      alert_id: int | None = None) -> Order:
    """Create an order; a dispatch marks its unit dispatched (a retired unit cannot be sent)."""
    if kind not in ORDER_KINDS:
        raise Conflict(f"order kind must be one of {', '.join(ORDER_KINDS)}")
    async with conn.transaction():
        if kind == "dispatch":
            unit = await conn.fetchval("UPDATE units SET status = 'dispatched', updated_at = now()"
                                       " WHERE id = $1 AND retired_at IS NULL RETURNING id", target)
            if unit is None:
                raise NotFound(f"no unit {target}")
        elif target not in gate_ids:
            raise NotFound(f"no gate {target}")
        if incident_id is not None and await conn.fetchval(
                "SELECT 1 FROM incidents WHERE id = $1", incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        if alert_id is not None and await conn.fetchval("SELECT 1 FROM alerts WHERE id = $1", alert_id) is None:
            raise NotFound(f"no alert {alert_id}")
        r = await conn.fetchrow(
            "INSERT INTO orders (kind, target, location, params, note, incident_id, issued_by, alert_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            kind, target, location, json.dumps(params or {}), note, incident_id, by, alert_id)
    return order_view(r)


async def acknowledge_order(conn: asyncpg.Connection, order_id: int, by: str,
                            target: str | None = None, kind: OrderKind | None = None) -> Order:
    """Mark an order acknowledged (by its receiver; `target` scopes a gate or a unit to its own
    orders, `kind` a unit to dispatches: a unit whose id is a gate's never gets the gate's)."""
    r = await conn.fetchrow(
        "UPDATE orders SET status = 'acknowledged', ack_by = $2, ack_at = now()"
        " WHERE id = $1 AND status IN ('sent', 'escalated') AND ($3::text IS NULL OR target = $3)"
        " AND ($4::text IS NULL OR kind = $4) RETURNING *", order_id, by, target, kind)
    if r is None:
        exists = await conn.fetchval("SELECT status FROM orders WHERE id = $1", order_id)
        if exists is None:
            raise NotFound(f"no order {order_id}")
        raise Conflict(f"order {order_id} is {exists}" if target is None or exists != "sent"
                       else f"order {order_id} is not addressed to {target}")
    return order_view(r)


async def list_orders(conn: asyncpg.Connection, pending_only: bool = False, target: str | None = None,
                      kind: OrderKind | None = None) -> list[Order]:
    """Orders, newest first (at most 500)."""
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE ($1 = false OR status IN ('sent', 'escalated'))"
        " AND ($2::text IS NULL OR target = $2) AND ($3::text IS NULL OR kind = $3)"
        " ORDER BY id DESC LIMIT 500", pending_only, target, kind)
    return [order_view(r) for r in rows]


def frees_unit(cancelled: Order, others: Iterable[Order], open_incidents: Collection[int]) -> bool:
    """Pure: is a unit free again once `cancelled` (its dispatch) is called off? Not while another
    dispatch to it still waits for an answer, nor while another open incident holds it (as
    `incidents.units_to_release` decides when an incident closes)."""
    if cancelled.kind != OrderKind.DISPATCH:
        return False
    for o in others:
        if o.order_id == cancelled.order_id or o.kind != OrderKind.DISPATCH or o.target != cancelled.target:
            continue
        if o.status in (OrderStatus.SENT, OrderStatus.ESCALATED):
            return False
        if (o.status != OrderStatus.CANCELLED and o.incident_id is not None and o.incident_id != cancelled.incident_id
                and o.incident_id in open_incidents):
            return False
    return True


# Which orders can be called off, in which status. A unit's dispatch only while it waits for its
# answer (an acknowledged unit is on its way: stand it down by radio or close the incident). A
# divert or a hold is a standing instruction to the gate's staff: it stays in force after staff
# acknowledged it, so it can be called off then too, which ends it. A lane order never: the gate
# carries it out and confirms it by itself the moment it gets it, so a call-off would race the
# gate and leave the lane map (proposals.closed_lanes, built from acknowledged lane orders)
# disagreeing with the gate; a close_lane is undone by an open_lane order (and the reverse),
# which is carried out and confirmed the same way, so the lane map stays true.
CALLABLE_OFF: dict[OrderKind, frozenset[OrderStatus]] = {
    OrderKind.DISPATCH: frozenset({OrderStatus.SENT, OrderStatus.ESCALATED}),
    OrderKind.DIVERT: frozenset({OrderStatus.SENT, OrderStatus.ESCALATED, OrderStatus.ACKNOWLEDGED}),
    OrderKind.HOLD_PERSON: frozenset({OrderStatus.SENT, OrderStatus.ESCALATED, OrderStatus.ACKNOWLEDGED}),
    OrderKind.CLOSE_LANE: frozenset(),
    OrderKind.OPEN_LANE: frozenset(),
}
_UNDONE_BY = {OrderKind.CLOSE_LANE: OrderKind.OPEN_LANE, OrderKind.OPEN_LANE: OrderKind.CLOSE_LANE}


def call_off_refusal(kind: OrderKind, status: OrderStatus) -> str | None:
    """Pure: why an order of this kind in this status cannot be called off (None: it can)."""
    if status in CALLABLE_OFF[kind]:
        return None
    if kind in _UNDONE_BY:
        return f"a {kind} order is not called off: the gate carried it out; send {_UNDONE_BY[kind]} to undo it"
    return f"is {status}"


async def cancel_order(conn: asyncpg.Connection, order_id: int) -> tuple[Order, UnitView | None]:
    """Call off an order when `call_off_refusal` allows it (Conflict otherwise). A dispatch's unit,
    when `frees_unit` says so and it is still on its way (dispatched), is available again
    (returned; else None); a gate's order is told to the gate by the caller."""
    async with conn.transaction():
        found = await conn.fetchrow("SELECT kind, status FROM orders WHERE id = $1 FOR UPDATE", order_id)
        if found is None:
            raise NotFound(f"no order {order_id}")
        refusal = call_off_refusal(OrderKind(found["kind"]), OrderStatus(found["status"]))
        if refusal is not None:
            raise Conflict(f"order {order_id} {refusal}")
        r = await conn.fetchrow("UPDATE orders SET status = 'cancelled' WHERE id = $1 RETURNING *", order_id)
        order = order_view(r)
        if order.kind != OrderKind.DISPATCH:
            return order, None
        others = [order_view(x) for x in await conn.fetch(
            "SELECT * FROM orders WHERE kind = 'dispatch' AND target = $1 AND id <> $2", order.target, order_id)]
        open_ids = {x["id"] for x in await conn.fetch("SELECT id FROM incidents WHERE status = 'open'")}
        if not frees_unit(order, others, open_ids):
            return order, None
        u = await conn.fetchrow("UPDATE units SET status = 'available', updated_at = now() WHERE id = $1"
                                " AND status = 'dispatched' AND retired_at IS NULL RETURNING *", order.target)
    return order, unit_view(u) if u is not None else None


async def called_off_gate_orders(conn: asyncpg.Connection, gate_id: str, limit: int = 200) -> list[Order]:
    """A gate's called-off orders, newest first (re-sent as cancellations when it connects)."""
    rows = await conn.fetch("SELECT * FROM orders WHERE target = $1 AND status = 'cancelled' AND kind <> 'dispatch'"
                            " ORDER BY id DESC LIMIT $2", gate_id, limit)
    return [order_view(r) for r in rows]


async def issue_details(conn: asyncpg.Connection, order: Order) -> dict[str, Any]:
    """The audit details of an issued order: the order, and when its alert was raised (issue 20:
    the audit chain alert → order → ack → resolved shows every time)."""
    details: dict[str, Any] = to_builtins(order)
    if order.alert_id is not None:
        raised = await conn.fetchval("SELECT raised_at FROM alerts WHERE id = $1", order.alert_id)
        if raised is not None:
            details["alert_raised_at"] = raised.timestamp()
    return details


@dataclass(frozen=True, slots=True)
class Overdue:
    """An order not acknowledged in time."""

    order_id: int
    waited_s: float


def overdue(orders: Sequence[Order], now: float, ack_timeout_s: float) -> list[Overdue]:
    """Pure: sent (not yet escalated) orders older than the acknowledgement timeout."""
    return [Overdue(o.order_id, now - o.issued_at) for o in orders
            if o.status == "sent" and now - o.issued_at > ack_timeout_s]


async def escalate(conn: asyncpg.Connection, order_ids: Sequence[int]) -> list[Order]:
    """Mark orders escalated; return them."""
    rows = await conn.fetch("UPDATE orders SET status = 'escalated', escalated_at = now()"
                            " WHERE id = ANY($1::bigint[]) AND status = 'sent' RETURNING *", list(order_ids))
    return [order_view(r) for r in rows]
