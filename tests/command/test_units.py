"""Units and responders through the real server and PostgreSQL: create, edit, retire (audited),
responder tokens bound to one unit, reports, and the dispatch proposal by walking distance."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import asyncpg
import websockets
from support import Server

from command.routing import REGISTRY
from eventguard.wire import OpsUpdate, Snapshot, decode_server_message


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def call(server: Server, method: str, path: str, token: str | None = None, body: Any = None
               ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(
            method, f"{server.url}{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


async def audit_actions(server: Server) -> list[tuple[str, str, str | None]]:
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = await conn.fetch("SELECT actor, action, subject FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    return [(r["actor"], r["action"], r["subject"]) for r in rows]


async def test_units_are_created_edited_retired_and_audited(server: Server) -> None:
    op, viewer = await server.login("operator"), await server.login("viewer")
    amb = {"id": "AMB-1", "kind": "ambulance", "name": "City hospital ambulance 1", "agency": "City hospital",
           "capabilities": ["first_aid", "patient_transport"], "home_zone": "S1", "shift": "16:00-23:30"}
    st, unit = await call(server, "POST", "/api/units/new", op, amb)
    assert st == 201, unit
    assert (unit["kind"], unit["home_zone"], unit["zone"], unit["status"]) == ("ambulance", "S1", "S1", "available")
    assert (await call(server, "POST", "/api/units/new", op, amb))[0] == 409
    assert (await call(server, "POST", "/api/units/new", viewer, amb))[0] == 403
    for bad, field in [({**amb, "id": "X", "kind": "helicopter"}, "kind"),
                       ({**amb, "id": "X", "home_zone": "moon"}, "home_zone"),
                       ({**amb, "id": "X", "shift": "25:00"}, "shift"),
                       ({**amb, "id": "X", "capabilities": ["flying"]}, "capabilities[0]")]:
        st, err = await call(server, "POST", "/api/units/new", op, bad)
        assert (st, err.get("field")) == (400, field), err

    st, unit = await call(server, "PATCH", "/api/units/AMB-1", op, {"name": "Ambulance 1", "shift": ""})
    assert (st, unit["name"], unit["shift"], unit["agency"]) == (200, "Ambulance 1", "", "City hospital")
    st, units = await call(server, "GET", "/api/units", viewer)
    assert [u["id"] for u in units] == ["AMB-1"]

    assert (await call(server, "POST", "/api/units/AMB-1/retire", op))[0] == 200
    assert (await call(server, "GET", "/api/units", viewer))[1] == []
    st, units = await call(server, "GET", "/api/units?retired=1", viewer)
    assert [(u["id"], u["retired"], u["status"]) for u in units] == [("AMB-1", True, "off")]
    assert (await call(server, "PATCH", "/api/units/AMB-1", op, {"name": "x"}))[0] == 404
    st, err = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "AMB-1"})
    assert st == 404, err  # a retired unit cannot be sent
    assert [a for a in await audit_actions(server) if a[1].startswith("unit_")] == [
        ("operator", "unit_create", "AMB-1"), ("operator", "unit_edit", "AMB-1"),
        ("operator", "unit_retire", "AMB-1")]


async def test_a_responder_sees_acknowledges_and_reports_for_its_own_unit_only(server: Server) -> None:
    chief, op = await server.login("commander"), await server.login("operator")
    for uid, zone in (("ST-1", "north"), ("ST-2", "bowl")):
        st, _ = await call(server, "POST", "/api/units/new", op,
                           {"id": uid, "kind": "steward", "name": uid, "home_zone": zone,
                            "capabilities": ["crowd_control"]})
        assert st == 201
    assert (await call(server, "POST", "/api/units/ST-1/token", op))[0] == 403  # commander only
    st, issued = await call(server, "POST", "/api/units/ST-1/token", chief)
    assert st == 200 and issued["link"] == f"/responder#token={issued['token']}"
    token = issued["token"]

    # the page signs in with the token and gets a cookie; the cookie alone then works
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # cookies of 127.0.0.1
        async with s.post(f"{server.url}/api/responder/login", json={"token": token}) as r:
            assert r.status == 200 and (await r.json())["unit_id"] == "ST-1"
        async with s.get(f"{server.url}/api/responder/me") as r:
            me = await r.json()
            assert me["unit"]["id"] == "ST-1" and {z["id"] for z in me["zones"]} == {"north", "south", "bowl"}
    assert (await call(server, "POST", "/api/responder/login", body={"token": "x" * 43}))[0] == 401

    # proposal for the bowl: ST-2 stands there, ST-1 walks 6 m from north
    st, prop = await call(server, "GET", "/api/units/proposal?place=bowl&capability=crowd_control", op)
    assert [(p["unit_id"], p["distance_m"]) for p in prop] == [("ST-2", 0.0), ("ST-1", 6.0)]
    st, prop = await call(server, "GET", "/api/units/proposal?place=S1", op)  # a gate names its zone
    assert [(p["unit_id"], p["distance_m"]) for p in prop] == [("ST-2", 6.0), ("ST-1", 12.0)]

    _, mine = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-1", "location": "bowl"})
    _, other = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-2"})
    st, seen = await call(server, "GET", "/api/responder/orders", token)
    assert [o["order_id"] for o in seen] == [mine["order_id"]]
    st, err = await call(server, "POST", f"/api/responder/orders/{other['order_id']}/ack", token)
    assert st == 409, err  # not addressed to ST-1
    st, acked = await call(server, "POST", f"/api/responder/orders/{mine['order_id']}/ack", token)
    assert (st, acked["status"], acked["ack_by"]) == (200, "acknowledged", "ST-1")

    st, unit = await call(server, "POST", "/api/responder/report", token, {"status": "busy", "x": 20, "y": 41})
    assert (st, unit["status"], unit["zone"]) == (200, "busy", "south")  # the tap fell in the south concourse
    assert (await call(server, "POST", "/api/responder/report", token, {"x": 1}))[0] == 400

    # least privilege: the responder reaches nothing else
    async with aiohttp.ClientSession() as s:
        for route in REGISTRY:
            if route.roles and "responder" not in route.roles:
                async with s.request(route.method, f"{server.url}{concrete(route.path)}", json={},
                                     headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 403, route

    # a rotated token signs the old phone out; retiring the unit signs out the new one
    st, again = await call(server, "POST", "/api/units/ST-1/token", chief)
    assert (await call(server, "GET", "/api/responder/me", token))[0] == 401
    assert (await call(server, "GET", "/api/responder/me", again["token"]))[0] == 200
    await call(server, "POST", "/api/units/ST-1/retire", op)
    assert (await call(server, "GET", "/api/responder/me", again["token"]))[0] == 401
    actions = await audit_actions(server)
    assert ("ST-1", "order_ack", str(mine["order_id"])) in actions
    assert ("ST-1", "unit_report", "ST-1") in actions
    assert ("commander", "unit_token_issue", "ST-1") in actions


async def test_a_unit_cannot_take_a_gate_or_zone_id(server: Server) -> None:
    """Orders and acks address gates and units by id: a unit "N1" would be sent gate N1's orders."""
    op = await server.login("operator")
    for taken in ("N1", "north"):
        st, err = await call(server, "POST", "/api/units/new", op, {"id": taken, "kind": "steward", "name": "x"})
        assert st == 409, err
        assert f"unit id {taken} is the id of a gate or zone" in err["message"], err


async def test_a_dispatch_shows_its_unit_dispatched_on_the_live_map(server: Server) -> None:
    op, viewer = await server.login("operator"), await server.login("viewer")
    st, _ = await call(server, "POST", "/api/units/new", op, {"id": "MED-1", "kind": "medic", "name": "Medic 1"})
    assert st == 201
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {viewer}"}) as live:
        assert isinstance(decode_server_message(await live.recv()), Snapshot)
        st, order = await call(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "MED-1"})
        assert st == 201, order
        async with asyncio.timeout(10):
            while True:
                m = decode_server_message(await live.recv())
                if isinstance(m, OpsUpdate) and any(u.id == "MED-1" for u in m.units):
                    break
    assert [u.status for u in m.units if u.id == "MED-1"] == ["dispatched"]
