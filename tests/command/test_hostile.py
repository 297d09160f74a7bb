"""Hostile values for every field of every message a gate sends and of the main REST bodies,
through a real server into a real PostgreSQL.

The fields are enumerated from the message and body types themselves, so a field added later
is covered too. For each field, every value in HOSTILE (wrong types, out of range, huge, NUL,
CR/LF, control characters, deep nesting, SQL) and every malformed number (NaN, Infinity) is
sent. The server must answer each with a result or with an error that names the field (never
a 500, never a stack trace), keep the socket open (the rest of a batch is stored), keep every
event it stores valid, and keep serving.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest
import websockets
from support import Server

from eventguard import wire
from eventguard.wire import BatchAck, ErrorMsg, Pong, Welcome, decode_server_message

# JSON fragments: valid JSON, each hostile to some field
HOSTILE = [
    "null", "true", "0", "-1", "63", "64", "3000000000", "18446744073709551616", "-9223372036854775809",
    "1.5", "1e40", "1e300", "-1e300", "1e400", '""', '"   "', '"\\u0000"', '"N1:\\u0000x"', '"a\\r\\nFAKE line"',
    '"\\u001b[31mred"', '"\\u2028"', '"' + "x" * 5000 + '"', '"\'; DROP TABLE gate_events; --"',
    '"<script>alert(1)</script>"', '"../../etc/passwd"', '"entry"', '"ticket_valid"', "[]",
    "[" + ",".join(['"ticket_valid"'] * 300) + "]", '["because"]', "{}", '{"a": {"b": [1, {"c": null}]}}',
    "[" * 200 + "]" * 200,
]
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MALFORMED = ["NaN", "Infinity", "-Infinity", "01", '"\\ud800"', "'single'"]  # not JSON (msgspec refuses)


def _fields(kind: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(kind)]


def _with(base: dict[str, Any], name: str, fragment: str) -> str:
    """JSON of base with field `name` replaced by a raw JSON fragment."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items() if k != name]
    parts.append(f"{json.dumps(name)}: {fragment}")
    return "{" + ", ".join(parts) + "}"


def _batch(batch_id: str, events: list[str]) -> str:
    """JSON of an EventBatch whose events are JSON texts already."""
    return f'{{"type": "events", "batch_id": {json.dumps(batch_id)}, "events": [{", ".join(events)}]}}'


def _names(err_field: str | None, name: str) -> bool:
    """Does an error's field path name `name` (e.g. "reasons[3]" names reasons)?"""
    return err_field is not None and (err_field == name or err_field.startswith((f"{name}[", f"{name}.")))


def _event(gate: str, **over: Any) -> dict[str, Any]:
    return {"event_id": f"{gate}:{uuid.uuid4().hex}", "gate_id": gate, "kind": "entry", "at": time.time(),
            "lane": 1, "ticket_id": f"t-{uuid.uuid4().hex[:8]}", "verdict": "admit", "reasons": ["ticket_valid"],
            "zone_from": None, "zone_to": None, "latency_ms": 12.5, "queue": 3, **over}


async def _until(ws: websockets.ClientConnection, kinds: tuple[type, ...]) -> Any:
    """The next reply of one of kinds (list syncs and orders pushed meanwhile are skipped)."""
    while True:
        msg = decode_server_message(await asyncio.wait_for(ws.recv(), 30))
        if isinstance(msg, kinds):
            return msg


async def _alive(ws: websockets.ClientConnection) -> None:
    nonce = uuid.uuid4().hex
    await ws.send(json.dumps({"type": "ping", "nonce": nonce}))
    while True:
        reply = await _until(ws, (Pong, ErrorMsg))
        if isinstance(reply, Pong) and reply.nonce == nonce:
            return


async def test_every_field_of_every_gate_event(server: Server) -> None:
    """One batch per field: each hostile value in its own event between good events. Every
    good event is stored; each hostile event is stored (when the value is a valid one) or set
    aside with that field named; the socket stays open throughout."""
    conn = await asyncpg.connect(server.db_url)
    ws = await websockets.connect(f"{server.ws_url}/ws/gate",
                                  additional_headers={"Authorization": f"Bearer {server.gate_tokens['N1']}"})
    try:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        for name in _fields(wire.GateEvent):
            goods = [_event("N1") for _ in HOSTILE]
            events: list[str] = []
            for good, fragment in zip(goods, HOSTILE, strict=True):
                events += [json.dumps(good), _with(_event("N1"), name, fragment)]
            batch_id = f"hostile-{name}"
            await ws.send(_batch(batch_id, events))
            ack = await _until(ws, (BatchAck, ErrorMsg))
            assert isinstance(ack, BatchAck), (name, ack)
            assert ack.stored + ack.duplicates + ack.rejected == len(events), (name, ack)
            assert ack.rejected >= 1, name  # something in HOSTILE is wrong for every field
            stored = {r["event_id"] for r in await conn.fetch(
                "SELECT event_id FROM gate_events WHERE event_id = ANY($1::text[])", [g["event_id"] for g in goods])}
            assert stored == {g["event_id"] for g in goods}, name  # the rest of the batch got through
            aside = await conn.fetch("SELECT field, reason FROM rejected_events WHERE batch_id = $1", batch_id)
            assert len(aside) == ack.rejected, name
            assert all(_names(r["field"], name) for r in aside), (name, [dict(r) for r in aside])
            # malformed numbers make the message not JSON: refused whole, the socket stays open
            for fragment in MALFORMED:
                await ws.send(_batch("m", [_with(_event("N1"), name, fragment)]))
                err = await _until(ws, (BatchAck, ErrorMsg))
                assert isinstance(err, ErrorMsg) and err.code == "bad_message", (name, fragment, err)
            await _alive(ws)
        # what was stored is what the wire allows
        rows = await conn.fetch("SELECT lane, at, latency_ms, event_id, ticket_id FROM gate_events")
        assert all(0 <= r["lane"] <= 63 and (r["latency_ms"] is None or 0 <= r["latency_ms"] <= 600_000)
                   and r["at"].year < 2101 for r in rows)
        assert not [r["event_id"] for r in rows if CONTROLS.search(r["event_id"]) or len(r["event_id"]) > 128]
        n = await conn.fetchval("SELECT count(*) FROM gate_events")
        counted = await conn.fetchval("SELECT entries + exits + denies + secondary FROM gate_counters"
                                      " WHERE gate_id = 'N1'")
        assert n == counted  # counters agree with what was stored
    finally:
        await ws.close()
        await conn.close()


GATE_MESSAGES: dict[type[msgspec.Struct], dict[str, Any]] = {
    wire.EventBatch: {"type": "events", "batch_id": "b", "events": []},
    wire.WatchlistHitReport: {"type": "watchlist_hit", "event_id": "N1:e", "gate_id": "N1", "at": 1.7e9,
                              "list_id": "l", "entry_id": "e", "severity": "info", "distance": 0.3,
                              "ticket_id": None},
    wire.OrderAck: {"type": "order_ack", "order_id": 1, "by": "staff"},
    wire.Ping: {"type": "ping", "nonce": "n"},
    wire.SyncRequest: {"type": "sync_request", "event_id": "x", "since_version": 0},
}
SAFE_CODES = {"bad_message", "not_found", "conflict", "wrong_event", "value_refused"}


async def test_every_field_of_every_other_gate_message(server: Server) -> None:
    """Hit reports, order acks, pings, sync requests and batches themselves: each hostile field
    gets a result or an ErrorMsg; a `bad_message` names the field; the socket stays open."""
    assert set(GATE_MESSAGES) == set(wire.GateMessage.__args__)  # type: ignore[attr-defined]
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens['N1']}"}) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        for kind, base in GATE_MESSAGES.items():
            for name in _fields(kind):
                for fragment in HOSTILE + MALFORMED:
                    await ws.send(_with(base, name, fragment))
                    nonce = uuid.uuid4().hex
                    await ws.send(json.dumps({"type": "ping", "nonce": nonce}))
                    while True:  # every reply up to our pong
                        reply = await _until(ws, (Pong, ErrorMsg, BatchAck))
                        if isinstance(reply, Pong) and reply.nonce == nonce:
                            break
                        if isinstance(reply, ErrorMsg):
                            assert reply.code in SAFE_CODES, (kind.__name__, name, fragment, reply)
                            if reply.code == "bad_message" and fragment not in MALFORMED:
                                assert _names(reply.field, name) or reply.field == "type", \
                                    (kind.__name__, name, fragment, reply)


REST: dict[str, tuple[type[wire.Body], dict[str, Any]]] = {
    "/api/units": (wire.UnitBody, {"id": "u1", "kind": "medic", "name": "Medic 1", "status": "available",
                                   "x": 1.0, "y": 2.0}),
    "/api/incidents": (wire.IncidentBody, {"kind": "medical", "severity": "high", "location": "north",
                                           "note": "row 12", "x": 1.0, "y": 2.0, "alert_ids": []}),
    "/api/orders": (wire.OrderBody, {"kind": "close_lane", "target": "N1", "location": None, "note": "",
                                     "params": {"lane": 1}, "incident_id": None, "alert_id": None}),
    "/api/watchlists": (wire.WatchlistBody, {"name": "list", "severity": "info"}),
    "/api/tickets/t-unknown/revoke": (wire.RevokeBody, {"reason": "lost"}),
    "/api/login": (wire.LoginBody, {"username": "nobody", "password": "wrong-password"}),
    # command operations (issue 20)
    "/api/units/new": (wire.UnitCreateBody, {"id": "u2", "kind": "ambulance", "name": "Ambulance 2",
                                             "capabilities": ["first_aid"], "agency": "Hospital",
                                             "home_zone": "north", "home_x": 1.0, "home_y": 2.0,
                                             "shift": "08:00-16:00"}),
    "/api/responder/login": (wire.ResponderLoginBody, {"token": "t" * 43}),
    # the incidents board (issue 20, second part); no incident 1: a body that decodes gets 404
    "/api/incidents/1/assign": (wire.IncidentAssignBody, {"unit_id": "u1", "note": "row 12"}),
    "/api/incidents/1/notes": (wire.IncidentNoteBody, {"note": "row 12"}),
    "/api/incidents/1/close": (wire.IncidentCloseBody, {"outcome": "false_alarm", "note": ""}),
    # evacuation (issue 20): a prepare that decodes holds a code (nothing declared); a bad code is 409
    "/api/evacuation/prepare": (wire.EvacuationPrepareBody, {"zones": ["north"], "note": "smoke"}),
    "/api/evacuation/declare": (wire.EvacuationConfirmBody, {"confirm": "0" * 8}),
}


@pytest.mark.parametrize("path", list(REST))
async def test_every_field_of_the_rest_bodies(server: Server, path: str) -> None:
    """Each hostile value in each field of a body: a 2xx, or a 4xx whose error names the field
    (bad_json for what is not JSON), never a 500; the server keeps serving."""
    kind, base = REST[path]
    assert set(base) == set(_fields(kind))
    token = await server.login("commander")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    seen: dict[int, int] = {}
    async with aiohttp.ClientSession() as s:
        for name in _fields(kind):
            for fragment in HOSTILE + MALFORMED:
                async with s.post(f"{server.url}{path}", data=_with(base, name, fragment), headers=headers) as r:
                    body = await r.json()
                    seen[r.status] = seen.get(r.status, 0) + 1
                    assert r.status < 500, (path, name, fragment, body)
                    assert "Traceback" not in json.dumps(body)
                    if r.status == 400 and body["error"] == "bad_request":
                        assert _names(body.get("field"), name), (path, name, fragment, body)
                    if r.status == 400 and fragment not in MALFORMED and body["error"] == "bad_json":
                        raise AssertionError((path, name, fragment, body))
        async with s.get(f"{server.url}/api/health") as r:
            assert (await r.json())["database"] == "ok"
    assert seen.get(400, 0) > len(_fields(kind)) * 10, seen


@pytest.mark.parametrize("path", ["/api/orders/{}/ack", "/api/alerts/{}/ack", "/api/incidents/{}/close",
                                  "/api/tickets/{}/revoke", "/api/watchlists/{}/entries"])
async def test_hostile_path_parameters(server: Server, path: str) -> None:
    """Ids in the path: too big for bigint, negative, NUL, overlong — 4xx, never a 500."""
    token = await server.login("commander")
    async with aiohttp.ClientSession() as s:
        for raw in ("99999999999999999999", "-1", "0", "1e3", "%00", "a%0d%0ab", "x" * 300, "%ff%fe"):
            url = f"{server.url}{path.format(raw)}"
            method = "GET" if path.endswith("entries") else "POST"
            async with s.request(method, url, json={"reason": "r"},
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert 400 <= r.status < 500, (url, r.status, await r.text())
