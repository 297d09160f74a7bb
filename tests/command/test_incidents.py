"""The incidents board (issue 20): the timeline and the escalation rule without I/O (tables), then
through the real server and PostgreSQL: assign, a responder's ack and report, a note, escalation
to the next unit and then to the commander, close with an outcome — every step on the timeline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import msgspec
import pytest
from support import Server

from command import incidents
from command.appkeys import SERVICE
from command.walking import Candidate
from eventguard.codes import (
    IncidentOutcome,
    IncidentSeverity,
    OrderKind,
    OrderStatus,
    TimelineStep,
    UnitKind,
)
from eventguard.wire import IncidentView, Order


async def call(server: Server, method: str, path: str, token: str | None = None, body: Any = None
               ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(method, f"{server.url}{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


# ---- pure ------------------------------------------------------------------------------------

INC = IncidentView(id=7, kind="medical", severity=IncidentSeverity.HIGH, location="bowl", status="closed",
                   opened_at=100.0, closed_at=400.0, outcome=IncidentOutcome.TRANSPORTED)


def _order(oid: int, target: str, *, kind: OrderKind = OrderKind.DISPATCH, incident: int | None = 7,
           alert: int | None = None, at: float = 110.0) -> Order:
    return Order(order_id=oid, kind=kind, target=target, location="bowl", issued_at=at, incident_id=incident,
                 alert_id=alert)


def _row(at: float, action: str, subject: str, actor: str = "commander", **details: Any) -> dict[str, Any]:
    return {"at": at, "actor": actor, "role": "commander", "action": action, "subject": subject,
            "details": json.dumps(details)}


def test_the_timeline_is_every_step_of_the_incident_in_time_order() -> None:
    orders = [_order(1, "MED-1"), _order(2, "MED-2", at=200.0), _order(3, "MED-9", incident=8)]
    rows = [
        _row(100, "incident_open", "7"),
        _row(101, "incident_open", "8"),  # another incident
        _row(110, "order_issue", "1", target="MED-1", params={}),
        _row(105, "unit_report", "MED-1", actor="MED-1", status="available"),  # before it was assigned
        _row(170, "order_escalated", "1", actor="system", waited_s=60),
        _row(171, "order_issue", "2", actor="system", params={"escalated_from": 1}),
        _row(180, "order_ack", "2", actor="MED-2"),
        _row(190, "unit_report", "MED-2", actor="MED-2", status="busy", zone="bowl"),
        _row(191, "unit_report", "MED-9", actor="MED-9", status="busy"),  # not assigned here
        _row(195, "order_ack", "3", actor="MED-9"),  # another incident's order
        _row(200, "incident_note", "7", note="patient conscious"),
        _row(400, "incident_close", "7", outcome="transported", note="to City hospital"),
        _row(450, "unit_report", "MED-2", actor="MED-2", status="available"),  # after the close
    ]
    steps = incidents.timeline(INC, orders, rows)
    assert [(e.at, e.step, e.actor) for e in steps] == [
        (100, TimelineStep.CREATED, "commander"), (110, TimelineStep.ASSIGNED, "commander"),
        (170, TimelineStep.ESCALATED, "system"), (171, TimelineStep.REDISPATCHED, "system"),
        (180, TimelineStep.ACKNOWLEDGED, "MED-2"), (190, TimelineStep.STATUS_REPORT, "MED-2"),
        (200, TimelineStep.NOTE, "commander"), (400, TimelineStep.CLOSED, "commander")]
    assert steps[0].text == "medical (high) at bowl"
    assert steps[3].text == "after order #1 was not acknowledged" and steps[3].unit_id == "MED-2"
    assert steps[5].text == "busy bowl"
    assert steps[-1].text == "transported: to City hospital"


CANDS = [Candidate("MED-1", UnitKind.MEDIC, 0.0, "bowl"), Candidate("MED-2", UnitKind.MEDIC, 6.0, "north"),
         Candidate("MED-3", UnitKind.MEDIC, 12.0, "south")]


@pytest.mark.parametrize(("order", "candidates", "tried", "expect"), [
    (_order(1, "MED-1"), CANDS, {"MED-1"}, incidents.Redispatch(1, "MED-2", 6.0)),
    (_order(1, "MED-1"), CANDS, {"MED-1", "MED-2"}, incidents.Redispatch(1, "MED-3", 12.0)),
    (_order(1, "MED-1"), CANDS, {"MED-1", "MED-2", "MED-3"}, "alert"),
    (_order(1, "MED-1"), [], {"MED-1"}, "alert"),
    (_order(4, "N1", kind=OrderKind.CLOSE_LANE), CANDS, set(), "alert"),  # a gate: the commander acts
])
def test_escalation_sends_the_next_untried_unit_or_alerts_the_commander(
        order: Order, candidates: list[Candidate], tried: set[str], expect: object) -> None:
    step = incidents.next_step(order, candidates, tried)
    if expect == "alert":
        assert isinstance(step, incidents.AlertCommander) and step.order_id == order.order_id
    else:
        assert step == expect


def test_units_tried_are_those_that_did_not_answer_for_the_same_incident_else_the_same_alert() -> None:
    acked = msgspec.structs.replace(_order(8, "G"), status=OrderStatus.ACKNOWLEDGED)
    orders = [_order(1, "A"), _order(2, "B"), _order(3, "C", incident=8), _order(4, "D", incident=None, alert=5),
              _order(5, "N1", kind=OrderKind.CLOSE_LANE), acked]
    assert incidents.tried_units(_order(2, "B"), orders) == {"A", "B"}  # G answered: it may go again
    assert incidents.tried_units(_order(6, "E", incident=None, alert=5), orders) == {"D", "E"}
    assert incidents.tried_units(_order(7, "F", incident=None), orders) == {"F"}


# ---- through the server ------------------------------------------------------------------------


async def _until(check: Any, within_s: float = 10.0) -> Any:
    for _ in range(int(within_s / 0.1)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not reached in time")


def test_closing_an_incident_frees_its_units_unless_another_open_incident_holds_them() -> None:
    orders = [_order(1, "MED-1"), _order(2, "MED-2"), _order(3, "MED-2", incident=8), _order(4, "MED-3"),
              _order(5, "MED-3", incident=9), _order(6, "ST-1", incident=8),
              _order(7, "MED-4"), Order(order_id=8, kind=OrderKind.DISPATCH, target="MED-4", incident_id=8,
                                        status=OrderStatus.CANCELLED),
              _order(9, "N1", kind=OrderKind.CLOSE_LANE)]
    # incident 8 is still open (it holds MED-2), 9 is closed (MED-3 is free of it)
    assert incidents.units_to_release(7, orders, open_incidents={8}) == ["MED-1", "MED-3", "MED-4"]
    assert incidents.units_to_release(8, orders, open_incidents={7}) == ["ST-1"]
    assert incidents.units_to_release(99, orders, open_incidents=set()) == []



def test_an_assignment_called_off_is_on_the_timeline() -> None:
    rows = [_row(100, "incident_open", "7"), _row(110, "order_issue", "1", target="MED-1", params={}),
            _row(130, "order_cancel", "1", target="MED-1", unit_released=True),
            _row(131, "order_cancel", "3", target="MED-9")]  # another incident's order
    steps = incidents.timeline(INC, [_order(1, "MED-1"), _order(3, "MED-9", incident=8)], rows)
    assert [(e.step, e.unit_id, e.order_id, e.text) for e in steps[1:]] == [
        (TimelineStep.ASSIGNED, "MED-1", 1, "dispatch MED-1 → bowl"),
        (TimelineStep.CANCELLED, "MED-1", 1, "MED-1 called off")]

async def test_an_incident_is_assigned_acknowledged_escalated_noted_and_closed_on_its_timeline(
        server: Server) -> None:
    chief, viewer = await server.login("commander"), await server.login("viewer")
    for uid, kind, home in (("MED-1", "medic", "bowl"), ("MED-2", "medic", "north"), ("MED-3", "medic", "south"),
                            ("ST-1", "steward", "bowl")):
        st, _ = await call(server, "POST", "/api/units/new", chief,
                           {"id": uid, "kind": kind, "name": uid, "capabilities": ["first_aid"], "home_zone": home})
        assert st == 201
    st, inc = await call(server, "POST", "/api/incidents", chief,
                         {"kind": "medical", "severity": "high", "location": "bowl", "x": 20, "y": 30})
    assert st == 201
    iid = inc["id"]

    # assigned, acknowledged on the phone, a status report, a note
    st, order = await call(server, "POST", f"/api/incidents/{iid}/assign", chief, {"unit_id": "MED-1"})
    assert st == 201 and (order["incident_id"], order["location"], order["kind"]) == (iid, "bowl", "dispatch")
    assert (await call(server, "POST", f"/api/incidents/{iid}/assign", viewer, {"unit_id": "MED-2"}))[0] == 403
    _, issued = await call(server, "POST", "/api/units/MED-1/token", chief)
    phone = issued["token"]
    assert (await call(server, "POST", f"/api/responder/orders/{order['order_id']}/ack", phone))[0] == 200
    assert (await call(server, "POST", "/api/responder/report", phone, {"status": "busy", "zone": "bowl"}))[0] == 200
    assert (await call(server, "POST", f"/api/incidents/{iid}/notes", chief, {"note": "patient conscious"}))[0] == 201

    # MED-2 does not answer: the next available medic goes (MED-3; MED-1 is busy, the steward is
    # not a medic); MED-3 does not answer either and no medic is left: the commander is alerted
    server.app[SERVICE].order_ack_timeout_s = 0.5
    st, late = await call(server, "POST", f"/api/incidents/{iid}/assign", chief, {"unit_id": "MED-2"})
    assert st == 201

    async def redispatched() -> list[dict[str, Any]]:
        tl = (await call(server, "GET", f"/api/incidents/{iid}/timeline", chief))[1]
        return [o for o in tl["orders"] if o["params"].get("escalated_from") == late["order_id"]]
    nxt = (await _until(redispatched))[0]
    assert (nxt["target"], nxt["location"], nxt["issued_by"]) == ("MED-3", "bowl", "system")

    async def alerted() -> list[dict[str, Any]]:
        return [a for a in (await call(server, "GET", "/api/alerts", chief))[1]
                if a["kind"] == "order_unacknowledged" and a["subject"] == str(nxt["order_id"])]
    alert = (await _until(alerted))[0]
    assert alert["level"] == "critical" and alert["details"]["incident_id"] == iid
    server.app[SERVICE].order_ack_timeout_s = 60.0

    # close with an outcome from the vocabulary only
    st, err = await call(server, "POST", f"/api/incidents/{iid}/close", chief, {"outcome": "sorted"})
    assert (st, err.get("field")) == (400, "outcome")
    st, closed = await call(server, "POST", f"/api/incidents/{iid}/close", chief,
                            {"outcome": "transported", "note": "to City hospital"})
    assert (st, closed["status"], closed["outcome"], closed["closed_by"]) == (200, "closed", "transported", "commander")
    assert (await call(server, "POST", f"/api/incidents/{iid}/close", chief, {"outcome": "transported"}))[0] == 404
    # its units are free again (busy MED-1, unanswering MED-2 and MED-3); the steward was never sent
    units = {u["id"]: u["status"] for u in (await call(server, "GET", "/api/units", chief))[1]}
    assert units == {"MED-1": "available", "MED-2": "available", "MED-3": "available", "ST-1": "available"}

    st, tl = await call(server, "GET", f"/api/incidents/{iid}/timeline", viewer)
    assert st == 200
    steps = [e["step"] for e in tl["timeline"]]
    assert steps == ["created", "assigned", "acknowledged", "status_report", "note", "assigned", "escalated",
                     "redispatched", "escalated", "supervisor_alerted", "closed"], steps
    assert tl["timeline"][-1]["text"] == "transported: to City hospital"
