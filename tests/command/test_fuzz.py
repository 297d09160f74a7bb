"""A fuzz run over every REST body and every websocket message type: hostile input gets a
4xx or an error message, never a 500, a stack trace or a dropped connection; secrets never
reach the logs."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import aiohttp
import pytest
import websockets
from support import Server

from command.routing import REGISTRY
from eventguard.wire import ErrorMsg, Pong, Welcome, decode_server_message

WIRE_TYPES = ["events", "watchlist_hit", "order_ack", "ping", "sync_request", "snapshot", "ack", "", None, 7]


def junk(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, biased toward plausible shapes."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**63), 10**30, 3.5, float("1e308")])
    if kind == 3:
        return rng.choice(["", "x" * rng.randrange(1, 3000), "'; DROP TABLE gate_events; --", "\u0000",
                           "../../etc/passwd", "N1", "dispatch", "critical", "<script>alert(1)</script>", "é漢字"])
    if kind == 4:
        return rng.uniform(-1e9, 1e9)
    if kind == 5:
        return str(rng.getrandbits(64))
    if kind == 6:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["kind", "target", "id", "name", "severity", "location", "note", "params", "lane", "reason",
            "username", "password", "alert_ids", "incident_id", "x", "y", "status", "type", "batch_id",
            "events", "order_id", "by", "event_id", "since_version", "nonce"]
    return {rng.choice(keys): junk(rng, depth + 1) for _ in range(rng.randrange(6))}


async def test_every_post_route_survives_junk_bodies(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    token = await server.login("commander")
    rng = random.Random(20261126)
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for route in REGISTRY:
            if route.method != "POST" or route.path in ("/api/login", "/api/logout"):
                continue
            path = route.path.replace("{id}", "1").replace("{list_id}", "nope")
            for _ in range(25):
                body = json.dumps(junk(rng)).encode() if rng.random() < 0.9 else bytes(rng.randbytes(40))
                async with s.post(f"{server.url}{path}", data=body,
                                  headers={"Content-Type": rng.choice(["application/json", "text/plain"])}) as r:
                    text = await r.text()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    assert r.status < 500, (route.path, body[:200], text)
                    assert "Traceback" not in text
    assert statuses.get(400, 0) > 50  # most junk is refused as a bad request
    # the server is still healthy and nothing it logged carries a credential
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/api/health") as r:
        assert (await r.json())["database"] == "ok"
    logged = caplog.text
    for secret in [token, *server.gate_tokens.values(), *server.passwords.values()]:
        assert secret not in logged


@pytest.mark.parametrize("path", ["/ws/gate", "/ws/live"])
async def test_websockets_survive_junk_messages(server: Server, path: str) -> None:
    rng = random.Random(7)
    if path == "/ws/gate":
        headers = {"Authorization": f"Bearer {server.gate_tokens['N1']}"}
    else:
        headers = {"Authorization": f"Bearer {await server.login('viewer')}"}
    async with websockets.connect(f"{server.ws_url}{path}", additional_headers=headers) as ws:
        first = decode_server_message(await ws.recv())
        assert isinstance(first, Welcome) or first.__class__.__name__ == "Snapshot"
        errors = 0
        for i in range(150):
            msg = junk(rng)
            if isinstance(msg, dict) and rng.random() < 0.7:
                msg["type"] = rng.choice(WIRE_TYPES)
            raw = json.dumps(msg) if rng.random() < 0.9 else "{" + "x" * rng.randrange(50)
            await ws.send(raw)
            await ws.send(json.dumps({"type": "ping", "nonce": str(i)}))
            # every message is answered in order; the ping proves the connection survived
            while True:
                reply = decode_server_message(await ws.recv())
                if isinstance(reply, Pong) and reply.nonce == str(i):
                    break
                if isinstance(reply, ErrorMsg):
                    errors += 1
                    assert reply.code in ("bad_message", "wrong_gate", "unsupported", "store_unavailable",
                                          "not_found", "conflict", "unknown_order"), reply
        assert errors > 100
