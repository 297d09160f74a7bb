"""Incidents as a board (issue 20): the timeline of an incident and the escalation rule, both
pure; and the thin store functions that feed them (an incident, its orders, its audit rows).

The timeline is not stored: every step is already an audit row (incident_open, incident_note,
incident_close, order_issue, order_ack, order_escalated, order_supervisor, order_cancel,
unit_report) or an order that carries the incident's id; `timeline` reads them back in time order.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from command.dispatch import incident_view, order_view, unit_view
from command.errors import NotFound
from command.walking import Candidate
from eventguard.codes import IncidentOutcome, OrderKind, OrderStatus, TimelineStep
from eventguard.wire import IncidentView, Order, TimelineEntry, UnitView

# ---- the timeline (pure) ------------------------------------------------------------------------

_INCIDENT_STEPS = {"incident_open": TimelineStep.CREATED, "incident_note": TimelineStep.NOTE,
                   "incident_close": TimelineStep.CLOSED}
_ORDER_STEPS = {"order_issue": TimelineStep.ASSIGNED, "order_ack": TimelineStep.ACKNOWLEDGED,
                "order_escalated": TimelineStep.ESCALATED, "order_supervisor": TimelineStep.SUPERVISOR_ALERTED,
                "order_cancel": TimelineStep.CANCELLED}


def _details(row: Mapping[str, Any]) -> dict[str, Any]:
    d = row.get("details") or {}
    return json.loads(d) if isinstance(d, str) else dict(d)


def timeline(incident: IncidentView, orders: Sequence[Order],
             rows: Iterable[Mapping[str, Any]]) -> list[TimelineEntry]:
    """Every step of `incident`, oldest first, from its audit rows and its orders' rows.

    `rows` are audit rows (at as epoch seconds, actor, role, action, subject, details); rows
    about other incidents, other orders, or units not assigned to it are left out; a unit's
    status reports count only while the incident is open."""
    mine = {str(o.order_id): o for o in orders if o.incident_id == incident.id}
    units = {o.target for o in mine.values() if o.kind == OrderKind.DISPATCH}
    first_assigned = min((o.issued_at for o in mine.values()), default=None)
    until = incident.closed_at if incident.closed_at is not None else float("inf")
    out: list[TimelineEntry] = []
    for r in rows:
        action, subject, at = r["action"], r.get("subject"), float(r["at"])
        d = _details(r)
        actor, role = str(r["actor"]), str(r.get("role") or "")
        if action in _INCIDENT_STEPS and subject == str(incident.id):
            text = d.get("note") or ""
            if action == "incident_close":
                text = f"{d.get('outcome', '')}{': ' + d['note'] if d.get('note') else ''}"
            elif action == "incident_open":
                text = f"{incident.kind} ({incident.severity}) at {incident.location}"
            out.append(TimelineEntry(at=at, step=_INCIDENT_STEPS[action], actor=actor, role=role, text=text))
        elif action in _ORDER_STEPS and subject in mine:
            o = mine[subject]
            step = _ORDER_STEPS[action]
            text = ""
            if action == "order_issue":
                if d.get("params", {}).get("escalated_from"):
                    step = TimelineStep.REDISPATCHED
                    text = f"after order #{d['params']['escalated_from']} was not acknowledged"
                else:
                    text = f"{o.kind} {o.target}" + (f" → {o.location}" if o.location else "")
            elif action == "order_escalated":
                text = f"{o.target} did not acknowledge within {float(d.get('waited_s') or 0):.0f} s"
            elif action == "order_supervisor":
                text = str(d.get("reason") or "no other unit can go")
            elif action == "order_cancel":
                text = (f"{o.target} called off" if o.kind == OrderKind.DISPATCH
                        else f"{o.kind.replace('_', ' ')} at {o.target} called off")
            out.append(TimelineEntry(at=at, step=step, actor=actor, role=role,
                                     unit_id=o.target if o.kind == OrderKind.DISPATCH else None,
                                     order_id=o.order_id, text=text))
        elif (action == "unit_report" and subject in units and first_assigned is not None
              and first_assigned <= at <= until):
            where = d.get("zone") or (f"({d.get('x'):.0f}, {d.get('y'):.0f})" if d.get("x") is not None else "")
            out.append(TimelineEntry(at=at, step=TimelineStep.STATUS_REPORT, actor=actor, role=role,
                                     unit_id=subject, text=f"{d.get('status', '')} {where}".strip()))
    out.sort(key=lambda e: e.at)
    return out


# ---- escalation (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redispatch:
    """Send the next proposed unit where the unanswered order sent its unit."""

    order_id: int
    unit_id: str
    distance_m: float


@dataclass(frozen=True, slots=True)
class AlertCommander:
    """Nobody else can go (or a gate did not answer): the commander is alerted."""

    order_id: int
    reason: str


def tried_units(order: Order, orders: Iterable[Order]) -> frozenset[str]:
    """Units that did not answer an order for the same thing as `order` (its incident, else its
    alert); a unit that acknowledged one and is available again may be sent again."""
    same = [o for o in orders if o.kind == OrderKind.DISPATCH and o.status != OrderStatus.ACKNOWLEDGED and (
        (order.incident_id is not None and o.incident_id == order.incident_id)
        or (order.incident_id is None and order.alert_id is not None and o.alert_id == order.alert_id))]
    return frozenset({order.target, *(o.target for o in same)})


def next_step(order: Order, candidates: Sequence[Candidate], tried: Collection[str]) -> Redispatch | AlertCommander:
    """What an overdue order escalates to: a dispatch goes to the nearest proposed unit not yet
    tried; a gate order, or a dispatch with nobody left, alerts the commander."""
    if order.kind != OrderKind.DISPATCH:
        return AlertCommander(order.order_id, f"gate {order.target} did not acknowledge {order.kind}")
    for c in candidates:
        if c.unit_id not in tried:
            return Redispatch(order.order_id, c.unit_id, c.distance_m)
    return AlertCommander(order.order_id, f"{order.target} did not acknowledge and no other available unit "
                                          f"can reach {order.location or 'the place'}")


# ---- store -----------------------------------------------------------------------------------------


async def get_incident(conn: asyncpg.Connection, incident_id: int) -> IncidentView:
    """One incident; NotFound if there is none."""
    r = await conn.fetchrow("SELECT * FROM incidents WHERE id = $1", incident_id)
    if r is None:
        raise NotFound(f"no incident {incident_id}")
    return incident_view(r)


async def incident_orders(conn: asyncpg.Connection, incident_id: int) -> list[Order]:
    """The orders that carry the incident's id, oldest first."""
    return [order_view(r) for r in await conn.fetch(
        "SELECT * FROM orders WHERE incident_id = $1 ORDER BY id", incident_id)]


async def timeline_rows(conn: asyncpg.Connection, incident: IncidentView, orders: Sequence[Order]) -> list[dict[str, Any]]:
    """The audit rows `timeline` may use: the incident's, its orders', its units' reports."""
    order_ids = [str(o.order_id) for o in orders]
    units = sorted({o.target for o in orders if o.kind == OrderKind.DISPATCH})
    rows = await conn.fetch(
        "SELECT at, actor, role, action, subject, details FROM audit_log"
        " WHERE (subject = $1 AND action = ANY($2::text[]))"
        " OR (subject = ANY($3::text[]) AND action = ANY($4::text[]))"
        " OR (action = 'unit_report' AND subject = ANY($5::text[]) AND at >= to_timestamp($6))"
        " ORDER BY id LIMIT 2000",
        str(incident.id), list(_INCIDENT_STEPS), order_ids, list(_ORDER_STEPS), units, incident.opened_at)
    return [{**dict(r), "at": r["at"].timestamp()} for r in rows]


async def close_incident(conn: asyncpg.Connection, incident_id: int, outcome: IncidentOutcome,
                         by: str) -> IncidentView:
    """Close an open incident with its outcome."""
    r = await conn.fetchrow("UPDATE incidents SET status = 'closed', closed_at = now(), outcome = $2,"
                            " closed_by = $3 WHERE id = $1 AND status = 'open' RETURNING *",
                            incident_id, outcome.value, by)
    if r is None:
        raise NotFound(f"no open incident {incident_id}")
    return incident_view(r)


def units_to_release(incident_id: int, orders: Iterable[Order], open_incidents: Collection[int]) -> list[str]:
    """The units sent to this incident that no other open incident still holds (pure): they are
    free again when it closes (a unit sent elsewhere meanwhile stays with that incident)."""
    def sent(o: Order) -> bool:
        return o.kind == OrderKind.DISPATCH and o.status != OrderStatus.CANCELLED  # rows give plain strings

    mine = {o.target for o in orders if sent(o) and o.incident_id == incident_id}
    held = {o.target for o in orders if sent(o) and o.incident_id is not None and o.incident_id != incident_id
            and o.incident_id in open_incidents}
    return sorted(mine - held)


async def release_units(conn: asyncpg.Connection, incident_id: int) -> list[UnitView]:
    """After closing an incident: its units that no other open incident holds become available
    (dispatched or busy ones; off-shift, retired or available units are left as they are)."""
    units = [r["target"] for r in await conn.fetch(
        "SELECT DISTINCT target FROM orders WHERE incident_id = $1 AND kind = 'dispatch'", incident_id)]
    if not units:
        return []
    orders = [order_view(r) for r in await conn.fetch(
        "SELECT * FROM orders WHERE kind = 'dispatch' AND target = ANY($1::text[]) AND incident_id IS NOT NULL",
        units)]
    open_ids = {r["id"] for r in await conn.fetch("SELECT id FROM incidents WHERE status = 'open'")}
    free = units_to_release(incident_id, orders, open_ids)
    rows = await conn.fetch("UPDATE units SET status = 'available', updated_at = now() WHERE id = ANY($1::text[])"
                            " AND status IN ('dispatched', 'busy') AND retired_at IS NULL RETURNING *", free)
    return [unit_view(r) for r in rows]
