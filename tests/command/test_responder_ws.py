"""/ws/responder through the real server, PostgreSQL and real websockets (issue 20): a unit's
socket is pushed its own orders — issued, escalated, acknowledged, cancelled — and the evacuation,
within a second, and nothing of another unit's or a gate's; a reconnect gets every change made
meanwhile once; the unauthenticated, staff, gates, tokens in URLs and other origins are refused
with a clear error, and a rotated token or a retired unit closes the socket with 4401."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server

from command.appkeys import RESPONDERS, SERVICE
from command.security import CLOSE_REVOKED
from eventguard.wire import (
    ResponderEvacuation,
    ResponderOrders,
    ServerMessage,
    decode_server_message,
)

PUSHED_WITHIN_S = 1.0  # a unit's phone must see a change within about a second


async def call(server: Server, method: str, path: str, token: str | None = None, body: Any = None
               ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(method, f"{server.url}{path}", json=body,
                                                        headers=headers) as r:
        return r.status, await r.json()


async def units(server: Server, *specs: tuple[str, str, str]) -> dict[str, str]:
    """Units (id, kind, home zone) created by an operator; their responder tokens by id."""
    op, chief = await server.login("operator"), await server.login("commander")
    tokens = {}
    for uid, kind, zone in specs:
        if uid in {g.id for g in server.venue.gates}:  # refused today; a unit made before the gate existed
            conn = await asyncpg.connect(server.db_url)
            try:
                await conn.execute("INSERT INTO units (id, kind, name, home_zone, zone) VALUES ($1, $2, $1, $3, $3)",
                                   uid, kind, zone)
            finally:
                await conn.close()
        else:
            st, made = await call(server, "POST", "/api/units/new", op,
                                  {"id": uid, "kind": kind, "name": uid, "home_zone": zone})
            assert st == 201, made
        st, issued = await call(server, "POST", f"/api/units/{uid}/token", chief)
        assert st == 200, issued
        tokens[uid] = issued["token"]
    return tokens


async def audit_actions(server: Server) -> list[tuple[str, str, str | None]]:
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = await conn.fetch("SELECT actor, action, subject FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    return [(r["actor"], r["action"], r["subject"]) for r in rows]


def phone(server: Server, token: str) -> websockets.connect:
    return websockets.connect(f"{server.ws_url}/ws/responder", additional_headers={"Authorization": f"Bearer {token}"})


async def next_msg(ws: websockets.ClientConnection, within: float = 5.0) -> ServerMessage:
    return decode_server_message(await asyncio.wait_for(ws.recv(), within))


async def until(ws: websockets.ClientConnection, ok: Callable[[ServerMessage], bool], within: float) -> ServerMessage:
    """The first message that satisfies `ok`, within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        msg = await next_msg(ws, max(0.01, deadline - time.monotonic()))
        if ok(msg):
            return msg


async def silent(ws: websockets.ClientConnection, for_s: float = 0.6) -> None:
    """Nothing arrives for `for_s` seconds."""
    with pytest.raises(TimeoutError):
        msg = await next_msg(ws, for_s)
        raise AssertionError(f"got {msg!r}")


async def snapshot(ws: websockets.ClientConnection) -> tuple[ResponderOrders, ResponderEvacuation]:
    """The two messages a socket opens with."""
    first, second = await next_msg(ws), await next_msg(ws)
    orders = next(m for m in (first, second) if isinstance(m, ResponderOrders))
    evac = next(m for m in (first, second) if isinstance(m, ResponderEvacuation))
    return orders, evac


def statuses(msg: ServerMessage) -> dict[int, str]:
    assert isinstance(msg, ResponderOrders)
    return {o.order_id: str(o.status) for o in msg.orders}


async def test_a_unit_is_pushed_its_own_orders_and_nothing_else(server: Server) -> None:
    # the unit N1 has the id of a gate (made before the venue had gate N1; creating one is refused
    # now): it must not get that gate's orders
    tokens = await units(server, ("ST-1", "steward", "north"), ("ST-2", "steward", "bowl"), ("N1", "steward", "north"))
    op = await server.login("operator")
    async with (phone(server, tokens["ST-1"]) as one, phone(server, tokens["ST-2"]) as two,
                phone(server, tokens["N1"]) as gate_named):
        orders, evac = await snapshot(one)
        assert (orders.unit_id, orders.orders, evac.active) == ("ST-1", (), False)
        assert (await snapshot(two))[0].unit_id == "ST-2"
        await snapshot(gate_named)
        assert server.app[RESPONDERS].units() == {"ST-1", "ST-2", "N1"}

        # a new order reaches its unit's socket within a second, and no other
        t0 = time.monotonic()
        _, mine = await call(server, "POST", "/api/orders", op,
                             {"kind": "dispatch", "target": "ST-1", "location": "bowl", "note": "crowd at the bar"})
        got = await until(one, lambda m: isinstance(m, ResponderOrders) and bool(m.orders), PUSHED_WITHIN_S)
        assert time.monotonic() - t0 < PUSHED_WITHIN_S
        assert isinstance(got, ResponderOrders)
        assert [(o.order_id, o.kind, o.location, o.note, o.status) for o in got.orders] == [
            (mine["order_id"], "dispatch", "bowl", "crowd at the bar", "sent")]
        assert got.unit is not None and (got.unit.id, got.unit.status) == ("ST-1", "dispatched")
        await silent(two)
        _, theirs = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-2"})
        assert statuses(await next_msg(two, PUSHED_WITHIN_S)) == {theirs["order_id"]: "sent"}
        await silent(one)
        # a gate's order concerns no unit, not even one whose id is the gate's
        st, lane = await call(server, "POST", "/api/orders", op,
                              {"kind": "close_lane", "target": "N1", "params": {"lane": 1}})
        assert st == 201
        await silent(gate_named)
        await silent(one, 0.1)
        await silent(two, 0.1)
        assert await call(server, "GET", "/api/responder/orders", tokens["N1"]) == (200, [])
        st, err = await call(server, "POST", f"/api/responder/orders/{lane['order_id']}/ack", tokens["N1"])
        assert (st, err["message"]) == (409, f"order {lane['order_id']} is not addressed to N1")
        st, err = await call(server, "POST", f"/api/orders/{lane['order_id']}/cancel", op)
        assert (st, err["message"]) == (409, f"order {lane['order_id']} a close_lane order is not called off: "
                                             "the gate carried it out; send open_lane to undo it")

        # acknowledged on the phone (REST), cancelled by the command room: both pushed
        st, _ = await call(server, "POST", f"/api/responder/orders/{mine['order_id']}/ack", tokens["ST-1"])
        assert st == 200
        assert statuses(await next_msg(one, PUSHED_WITHIN_S)) == {mine["order_id"]: "acknowledged"}
        st, cancelled = await call(server, "POST", f"/api/orders/{theirs['order_id']}/cancel", op)
        assert (st, cancelled["status"]) == (200, "cancelled")
        msg = await next_msg(two, PUSHED_WITHIN_S)
        assert statuses(msg) == {theirs["order_id"]: "cancelled"}
        assert isinstance(msg, ResponderOrders) and msg.unit is not None
        assert msg.unit.status == "available"  # stood down: its phone shows it free again
        await silent(one, 0.3)
        st, listed = await call(server, "GET", "/api/units", op)
        assert {u["id"]: u["status"] for u in listed} == {"ST-1": "dispatched", "ST-2": "available",
                                                         "N1": "available"}
        st, err = await call(server, "POST", f"/api/orders/{mine['order_id']}/cancel", op)
        assert (st, err["message"]) == (409, f"order {mine['order_id']} is acknowledged")
        assert ("operator", "order_cancel", str(theirs["order_id"])) in await audit_actions(server)

    # a socket that dropped: the changes made meanwhile come with the next snapshot, each once
    _, a = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-1", "location": "north"})
    _, b = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-1", "location": "south"})
    await call(server, "POST", f"/api/orders/{b['order_id']}/cancel", op)
    async with phone(server, tokens["ST-1"]) as one:
        orders, _ = await snapshot(one)
        assert [(o.order_id, o.status) for o in orders.orders] == [
            (b["order_id"], "cancelled"), (a["order_id"], "sent"), (mine["order_id"], "acknowledged")]
    assert server.app[RESPONDERS].units() == frozenset()


async def test_escalation_and_evacuation_are_pushed(server: Server) -> None:
    tokens = await units(server, ("MED-1", "medic", "north"), ("MED-2", "medic", "bowl"))
    op, chief = await server.login("operator"), await server.login("commander")
    async with phone(server, tokens["MED-1"]) as one, phone(server, tokens["MED-2"]) as two:
        await snapshot(one)
        await snapshot(two)
        _, first = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "MED-1",
                                                                   "location": "north"})
        await next_msg(one, PUSHED_WITHIN_S)
        server.app[SERVICE].order_ack_timeout_s = 0.2  # not acknowledged: escalated at the next tick (1 s)
        msg = await until(one, lambda m: statuses(m).get(first["order_id"]) == "escalated", 2.5)
        assert statuses(msg) == {first["order_id"]: "escalated"}
        # ... and the next medic is sent: its phone gets the order the escalation made
        msg = await until(two, lambda m: bool(statuses(m)), PUSHED_WITHIN_S + 0.5)
        assert isinstance(msg, ResponderOrders)
        assert [(o.location, o.params.get("escalated_from")) for o in msg.orders] == [("north", first["order_id"])]
        server.app[SERVICE].order_ack_timeout_s = 60.0

        # an evacuation declared and ended reaches every responder's socket
        st, prepared = await call(server, "POST", "/api/evacuation/prepare", chief,
                                  {"zones": ["north"], "note": "Smoke in the north concourse"})
        assert st == 200, prepared
        t0 = time.monotonic()
        st, _ = await call(server, "POST", "/api/evacuation/declare", chief, {"confirm": prepared["confirm"]})
        assert st == 201
        for ws in (one, two):
            evac = await until(ws, lambda m: isinstance(m, ResponderEvacuation), PUSHED_WITHIN_S)
            assert isinstance(evac, ResponderEvacuation)
            assert (evac.active, evac.zones_covered, evac.note) == (True, ("north",), "Smoke in the north concourse")
            assert evac.routes and evac.routes[0].zone == "north"
        assert time.monotonic() - t0 < PUSHED_WITHIN_S
        assert (await call(server, "POST", "/api/evacuation/end", chief))[0] == 200
        for ws in (one, two):
            evac = await until(ws, lambda m: isinstance(m, ResponderEvacuation), PUSHED_WITHIN_S)
            assert evac == ResponderEvacuation()
        # what the page reads while its socket is down says the same
        st, body = await call(server, "GET", "/api/responder/evacuation", tokens["MED-1"])
        assert (st, body["active"], body["type"]) == (200, False, "responder_evacuation")


@pytest.mark.parametrize(("who", "status", "error", "message"), [
    (None, 401, "unauthorized", "authentication required"),
    ("forged", 401, "unauthorized", "invalid or expired token"),
    ("operator", 403, "forbidden", "role operator may not do this"),
    ("gate", 403, "forbidden", "role gate may not do this"),
])
async def test_the_responder_socket_refuses_the_wrong_credentials_with_a_clear_error(
        server: Server, who: str | None, status: int, error: str, message: str) -> None:
    headers = {}
    if who == "forged":
        headers["Authorization"] = "Bearer " + "x" * 43
    elif who == "gate":
        headers["Authorization"] = f"Bearer {server.gate_tokens['N1']}"
    elif who is not None:
        headers["Authorization"] = f"Bearer {await server.login(who)}"
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(f"{server.ws_url}/ws/responder", additional_headers=headers):
            pass
    assert err.value.response.status_code == status
    assert json.loads(err.value.response.body) == {"error": error, "message": message}


async def test_the_page_cookie_same_origin_only_and_closed_when_the_token_dies(server: Server) -> None:
    tokens = await units(server, ("ST-1", "steward", "north"))
    chief, op = await server.login("commander"), await server.login("operator")
    token = tokens["ST-1"]
    jar = aiohttp.CookieJar(unsafe=True)  # the cookie the page gets at sign-in, as a browser keeps it
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.post(f"{server.url}/api/responder/login", json={"token": token}) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(f"{server.ws_url}/ws/responder", origin="http://127.0.0.1:1")
        assert refused.value.status == 403  # another page's origin: bad_origin
        async with s.ws_connect(f"{server.ws_url}/ws/responder", origin=server.url) as ws:
            assert (await ws.receive_json(timeout=5))["type"] in ("responder_orders", "responder_evacuation")
    async with aiohttp.ClientSession() as s:  # never a token in the URL
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(f"{server.ws_url}/ws/responder?token={token}")
        assert refused.value.status == 401

    async def closed_with(ws: websockets.ClientConnection) -> int | None:
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code

    async with phone(server, token) as ws:
        await snapshot(ws)
        st, again = await call(server, "POST", "/api/units/ST-1/token", chief)  # a new link: the old phone is out
        assert st == 200
        assert await closed_with(ws) == CLOSE_REVOKED
    async with phone(server, again["token"]) as ws:
        await snapshot(ws)
        assert (await call(server, "POST", "/api/units/ST-1/retire", op))[0] == 200
        assert await closed_with(ws) == CLOSE_REVOKED
