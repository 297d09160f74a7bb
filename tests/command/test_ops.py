"""Alerts, incidents, units and orders end to end: real server, PostgreSQL, websockets, a gate."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server, wait_for

from command import issuing
from command.appkeys import SERVICE
from eventguard.wire import (
    AlertsUpdate,
    BatchAck,
    EventBatch,
    EventKind,
    GateEvent,
    GridUpdate,
    OpsUpdate,
    Order,
    OrderCancelled,
    Snapshot,
    Welcome,
    decode_server_message,
    encode,
)
from gate.service import GateCache, GateConfig, GateService


async def api(server: Server, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(
            method, f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def push_entries(server: Server, gate: str, n: int) -> None:
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens[gate]}"}) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        p = uuid.uuid4().hex[:6]
        events = tuple(GateEvent(event_id=f"{gate}:{p}{i}", gate_id=gate, kind=EventKind.ENTRY, at=time.time())
                       for i in range(n))
        await ws.send(encode(EventBatch(batch_id=p, events=events)).decode())
        while not isinstance(decode_server_message(await ws.recv()), BatchAck):
            pass


async def next_of(live: websockets.ClientConnection, kind: type, pred: Any = lambda m: True,
                  within: float = 15) -> Any:
    async with asyncio.timeout(within):
        while True:
            m = decode_server_message(await live.recv())
            if isinstance(m, kind) and pred(m):
                return m


async def test_density_alert_is_raised_acknowledged_and_resolved(server: Server) -> None:
    viewer, operator = await server.login("viewer"), await server.login("operator")
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {viewer}"}) as live:
        assert isinstance(decode_server_message(await live.recv()), Snapshot)
        await push_entries(server, "N1", 140)  # 140 people on 60 m² = 2.33 p/m² > warning 2.0
        grid = await next_of(live, GridUpdate)  # the tick publishes the grid, then the alerts
        assert max(grid.deci_density) == 23  # 2.33 p/m² in tenths
        upd = await next_of(live, AlertsUpdate, lambda m: any(a.subject == "north" for a in m.alerts))
        alert = next(a for a in upd.alerts if a.subject == "north")
        assert (alert.kind, alert.level, alert.status) == ("density_warning", "warning", "raised")
        assert "north" in alert.message and "2.33" in alert.message
        # proposed orders: slow the north gates, divert their arrivals to the south gate
        proposals = {(p["action"], p["gate"], p["target_gate"]) for p in alert.details["suggestions"]}
        assert {("meter_inflow", "N1", None), ("divert", "N1", "S1"), ("divert", "N2", "S1")} <= proposals
        assert "divert N1 arrivals to S1" in alert.message
        # more people do not raise a second alert for the same zone (no storm)
        await push_entries(server, "N2", 5)
        await asyncio.sleep(2.5)
        status, open_alerts = await api(server, "GET", "/api/alerts", viewer)
        assert status == 200 and [a["subject"] for a in open_alerts].count("north") == 1
        # a viewer may not acknowledge; an operator may
        status, body = await api(server, "POST", f"/api/alerts/{alert.id}/ack", viewer)
        assert (status, body["error"]) == (403, "forbidden")
        status, body = await api(server, "POST", f"/api/alerts/{alert.id}/ack", operator)
        assert status == 200 and body["status"] == "acknowledged"
        await next_of(live, AlertsUpdate, lambda m: any(a.id == alert.id and a.status == "acknowledged"
                                                        for a in m.alerts))
        status, body = await api(server, "POST", f"/api/alerts/{alert.id}/resolve", operator)
        assert status == 200 and body["status"] == "resolved"
        status, body = await api(server, "POST", f"/api/alerts/{alert.id}/resolve", operator)
        assert (status, body["error"]) == (409, "alert_already_resolved")
        status, body = await api(server, "POST", "/api/alerts/999999/ack", operator)
        assert (status, body["error"]) == (404, "unknown_alert")
    conn = await asyncpg.connect(server.db_url)
    try:
        row = await conn.fetchrow("SELECT status, acknowledged_by, resolved_by FROM alerts WHERE id = $1", alert.id)
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    finally:
        await conn.close()
    assert dict(row) == {"status": "resolved", "acknowledged_by": "operator", "resolved_by": "operator"}
    assert "alert_ack" in actions and "alert_resolve" in actions


async def n1_gate(server: Server, tmp_path: Path) -> GateService:
    """A real gate N1 (not started) holding the event's keys."""
    conn = await asyncpg.connect(server.db_url)
    try:
        keys = await issuing.public_keys(conn, server.venue.event.id)
    finally:
        await conn.close()
    return GateService(GateConfig(gate_id="N1", event_id=server.venue.event.id,
                                  server_url=f"{server.ws_url}/ws/gate", token=server.gate_tokens["N1"],
                                  journal_path=tmp_path / "n1.sqlite", face_required=False, workers=1),
                       GateCache(keys=keys))


async def test_dispatch_and_gate_orders_with_acknowledgement_and_escalation(server: Server,
                                                                           tmp_path: Path) -> None:
    commander = await server.login("commander")
    server.app[SERVICE].order_ack_timeout_s = 1.5
    gate = await n1_gate(server, tmp_path)
    await gate.start()
    try:
        await asyncio.wait_for(gate.uplink.connected.wait(), 10)
        async with websockets.connect(f"{server.ws_url}/ws/live",
                                      additional_headers={"Authorization": f"Bearer {commander}"}) as live:
            assert isinstance(decode_server_message(await live.recv()), Snapshot)
            status, unit = await api(server, "POST", "/api/units", commander,
                                     {"id": "med-1", "kind": "medic", "name": "Medic team 1", "x": 10, "y": 20})
            assert status == 200 and unit["status"] == "available"
            status, inc = await api(server, "POST", "/api/incidents", commander,
                                    {"kind": "medical", "severity": "high", "location": "bowl", "note": "fainted"})
            assert status == 201
            status, order = await api(server, "POST", "/api/orders", commander,
                                      {"kind": "dispatch", "target": "med-1", "location": "bowl",
                                       "incident_id": inc["id"], "note": "row 12"})
            assert status == 201 and order["status"] == "sent"
            ops = await next_of(live, OpsUpdate, lambda m: any(o.order_id == order["order_id"] for o in m.orders))
            assert ops.orders[0].target == "med-1"
            # nobody acknowledges the dispatch: it escalates
            await next_of(live, OpsUpdate, lambda m: any(o.order_id == order["order_id"] and o.status == "escalated"
                                                         for o in m.orders))
            status, acked = await api(server, "POST", f"/api/orders/{order['order_id']}/ack", commander)
            assert status == 200 and acked["status"] == "acknowledged"
            # a gate order reaches the gate, which closes the lane and acknowledges by itself
            status, gorder = await api(server, "POST", "/api/orders", commander,
                                       {"kind": "close_lane", "target": "N1", "params": {"lane": 1}})
            assert status == 201
            await wait_for(lambda: 1 in gate.lanes_closed)
            await next_of(live, OpsUpdate, lambda m: any(o.order_id == gorder["order_id"]
                                                         and o.status == "acknowledged" for o in m.orders))
            status, body = await api(server, "POST", "/api/orders", commander,
                                     {"kind": "close_lane", "target": "NOPE", "params": {"lane": 1}})
            assert (status, body["error"]) == (404, "not_found")
    finally:
        await gate.stop()
    conn = await asyncpg.connect(server.db_url)
    try:
        audit = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
        row = await conn.fetchrow("SELECT status, ack_by FROM orders WHERE id = $1", gorder["order_id"])
    finally:
        await conn.close()
    assert {"order_issue", "order_escalated", "order_ack", "incident_open", "unit_update"} <= set(audit)
    assert dict(row) == {"status": "acknowledged", "ack_by": "gate:N1"}


async def test_a_gate_order_called_off_reaches_the_gate_live_and_after_a_reconnect(server: Server,
                                                                                  tmp_path: Path) -> None:
    """A divert or hold called off from command reaches the gate's socket at once (the gate drops it
    and tells its terminal), is audited and on the incident's timeline; a gate that was offline
    gets the cancellation when it connects again and never the order as live. A lane order is
    refused: the opposite lane order undoes it."""
    commander = await server.login("commander")
    gate = await n1_gate(server, tmp_path)
    told: list[OrderCancelled] = []

    async def terminal(msg: OrderCancelled) -> None:
        told.append(msg)

    gate.called_off_listeners.append(terminal)
    await gate.start()
    try:
        await asyncio.wait_for(gate.uplink.connected.wait(), 10)
        _, inc = await api(server, "POST", "/api/incidents", commander,
                           {"kind": "crowd", "severity": "high", "location": "north", "note": "crush at N1"})
        status, divert = await api(server, "POST", "/api/orders", commander,
                                   {"kind": "divert", "target": "N1", "location": "S1", "incident_id": inc["id"]})
        assert status == 201
        await wait_for(lambda: divert["order_id"] in gate.orders)
        status, off = await api(server, "POST", f"/api/orders/{divert['order_id']}/cancel", commander)
        assert (status, off["status"]) == (200, "cancelled")
        await wait_for(lambda: divert["order_id"] not in gate.orders and told)
        assert [(m.order_id, m.kind, m.target) for m in told] == [(divert["order_id"], "divert", "N1")]

        # a hold staff acknowledged at the terminal is still in force: calling it off ends it
        status, hold = await api(server, "POST", "/api/orders", commander, {"kind": "hold_person", "target": "N1"})
        await wait_for(lambda: hold["order_id"] in gate.orders)
        assert await gate.acknowledge_order(hold["order_id"], "steward:ann")
        await wait_for(lambda: _status(server, hold["order_id"]), within=10)
        status, off = await api(server, "POST", f"/api/orders/{hold['order_id']}/cancel", commander)
        assert (status, off["status"]) == (200, "cancelled")
        await wait_for(lambda: len(told) == 2)
        assert told[1].order_id == hold["order_id"]
        status, err = await api(server, "POST", f"/api/orders/{hold['order_id']}/cancel", commander)
        assert (status, err["message"]) == (409, f"order {hold['order_id']} is cancelled")

        # a lane order is undone by the opposite lane order, not called off
        _, lane = await api(server, "POST", "/api/orders", commander,
                            {"kind": "close_lane", "target": "N1", "params": {"lane": 1}})
        await wait_for(lambda: 1 in gate.lanes_closed)
        status, err = await api(server, "POST", f"/api/orders/{lane['order_id']}/cancel", commander)
        assert status == 409 and "send open_lane to undo it" in err["message"]
        assert 1 in gate.lanes_closed and len(told) == 2
    finally:
        await gate.stop()

    # the gate is offline (its last socket above is closed): a divert it got earlier is called off
    headers = {"Authorization": f"Bearer {server.gate_tokens['N1']}"}
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers=headers) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        _, later = await api(server, "POST", "/api/orders", commander, {"kind": "divert", "target": "N1"})
        got = await next_of(ws, Order, lambda m: m.order_id == later["order_id"])
        assert got.status == "sent"
    await wait_for(lambda: not server.app[SERVICE].gate_sockets.get("N1"))
    status, off = await api(server, "POST", f"/api/orders/{later['order_id']}/cancel", commander)
    assert (status, off["status"]) == (200, "cancelled")
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers=headers) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        seen: list[Any] = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                while True:
                    seen.append(decode_server_message(await ws.recv()))
    called_off = [m.order_id for m in seen if isinstance(m, OrderCancelled)]
    assert called_off == [divert["order_id"], hold["order_id"], later["order_id"]]  # oldest first
    assert not [m for m in seen if isinstance(m, Order) and m.order_id in called_off]  # never as live

    status, timeline = await api(server, "GET", f"/api/incidents/{inc['id']}/timeline", commander)
    assert status == 200
    assert [(e["step"], e["order_id"], e["text"]) for e in timeline["timeline"]
            if e["step"] == "cancelled"] == [
        ("cancelled", divert["order_id"], "divert at N1 called off")]
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = await conn.fetch("SELECT subject, details FROM audit_log WHERE action = 'order_cancel' ORDER BY id")
    finally:
        await conn.close()
    assert [(r["subject"], json.loads(r["details"])["kind"]) for r in rows] == [
        (str(divert["order_id"]), "divert"), (str(hold["order_id"]), "hold_person"), (str(later["order_id"]), "divert")]


async def _status(server: Server, order_id: int) -> bool:
    conn = await asyncpg.connect(server.db_url)
    try:
        return await conn.fetchval("SELECT status FROM orders WHERE id = $1", order_id) == "acknowledged"
    finally:
        await conn.close()


@pytest.mark.parametrize(("path", "raw", "status", "code", "field"), [
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "M", "x": NaN}', 400, "bad_json", None),
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "M", "y": Infinity}', 400, "bad_json", None),
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "M", "x": 1e400}', 400, "bad_request", "x"),
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "M", "x": 1e9}', 400, "bad_request", "x"),
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "' + "M" * 5000 + '"}', 400, "bad_request", "name"),
    ("/api/units", '{"id": "u1\\u0000", "kind": "medic", "name": "M"}', 400, "bad_request", "id"),
    ("/api/units", '{"id": "u1", "kind": "medic", "name": "M", "status": "asleep"}', 400, "bad_request", "status"),
    ("/api/incidents", '{"kind": "fire", "severity": "high", "location": "bowl", "x": -Infinity}', 400,
     "bad_json", None),
    ("/api/incidents", '{"kind": "fire", "severity": "high", "location": "bowl", "note": "' + "n" * 600 + '"}',
     400, "bad_request", "note"),
    ("/api/incidents", '{"kind": "fire", "severity": "high", "location": "bowl", "alert_ids": [1, 2e30]}', 400,
     "bad_request", "alert_ids[1]"),
    ("/api/incidents", '{"kind": "fire", "severity": "high", "location": "bowl", "extra": 1}', 400,
     "bad_request", "extra"),
    ("/api/incidents", '{"kind": "fire", "severity": "high", "location": [[[[[[[[[[[[[[]]]]]]]]]]]]]]}', 400,
     "bad_request", "location"),
    ("/api/orders", '{"kind": "close_lane", "target": "N1", "params": {"lane": "' + "x" * 6_000 + '"}}', 400,
     "bad_request", "params[...]"),
    ("/api/orders", '{"kind": "close_lane", "target": "N1", "params": {"lane": {"deep": 1}}}', 400,
     "bad_request", "params[...]"),
    ("/api/orders", '{"kind": "dispatch", "target": "u1", "incident_id": 99999999999999999999}', 400,
     "bad_request", "incident_id"),
])
async def test_rest_bodies_refuse_non_finite_numbers_and_overlong_fields(
        server: Server, path: str, raw: str, status: int, code: str, field: str | None) -> None:
    """NaN and Infinity (Python's json took them: stored with no audit row, then sent as
    invalid JSON), out-of-range coordinates and ids, overlong or control-character text,
    unknown fields and deep nesting: 400 naming the field, nothing stored."""
    token = await server.login("commander")
    async with aiohttp.ClientSession() as s, s.post(f"{server.url}{path}", data=raw, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as r:
        body = await r.json()
        assert (r.status, body["error"], body.get("field")) == (status, code, field), body
    conn = await asyncpg.connect(server.db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM units") == 0
        assert await conn.fetchval("SELECT count(*) FROM incidents") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    finally:
        await conn.close()


async def test_json_bodies_must_be_sent_as_json(server: Server) -> None:
    """A page of another site can POST text/plain without a preflight: such bodies are refused."""
    token = await server.login("commander")
    async with aiohttp.ClientSession() as s, s.post(
            f"{server.url}/api/units", data='{"id": "u1", "kind": "medic", "name": "M"}',
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}) as r:
        assert (r.status, (await r.json())["error"]) == (415, "unsupported_media_type")
