"""Every REST route and websocket refuses the unauthenticated and the wrong role."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server

from command.auth import Role
from command.routing import REGISTRY
from eventguard.errors import ConfigError
from eventguard.settings import ServerSettings


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_registry_covers_the_app_routes(server: Server) -> None:
    documented = {(r.method, r.path) for r in REGISTRY}
    served = {(r.method, r.resource.canonical) for r in server.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    assert served == documented
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/api/openapi.json") as r:
        spec = await r.json()
    assert {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops} == documented


async def test_every_route_refuses_missing_and_wrong_credentials(server: Server) -> None:
    tokens = {Role.VIEWER: await server.login("viewer"), Role.OPERATOR: await server.login("operator"),
              Role.COMMANDER: await server.login("commander"), Role.GATE: server.gate_tokens["N1"]}
    checked = 0
    async with aiohttp.ClientSession() as s:
        for route in REGISTRY:
            if not route.roles:
                continue
            url = f"{server.url}{concrete(route.path)}"
            async with s.request(route.method, url) as r:
                assert r.status == 401, (route, await r.text())
                assert (await r.json())["error"] == "unauthorized"
            async with s.request(route.method, url, headers={"Authorization": "Bearer forged"}) as r:
                assert r.status == 401, route
            for role, token in tokens.items():
                if role in route.roles:
                    continue
                async with s.request(route.method, url, json={},
                                     headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 403, (route, role, await r.text())
                    checked += 1
    assert checked >= 20


@pytest.mark.parametrize(("path", "who", "status"), [
    ("/ws/live", None, 401), ("/ws/live", "gate", 403), ("/ws/gate", None, 401),
    ("/ws/gate", "viewer", 403), ("/ws/gate", "commander", 403),
    ("/ws/responder", None, 401), ("/ws/responder", "viewer", 403), ("/ws/responder", "gate", 403),
])
async def test_websockets_refuse_wrong_credentials(server: Server, path: str, who: str | None,
                                                   status: int) -> None:
    headers = {}
    if who == "gate":
        headers["Authorization"] = f"Bearer {server.gate_tokens['S1']}"
    elif who is not None:
        headers["Authorization"] = f"Bearer {await server.login(who)}"
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(f"{server.ws_url}{path}", additional_headers=headers):
            pass
    assert err.value.response.status_code == status


async def test_login_is_rate_limited_and_failures_audited(server: Server) -> None:
    statuses = []
    async with aiohttp.ClientSession() as s:
        for _ in range(12):
            async with s.post(f"{server.url}/api/login", json={"username": "viewer", "password": "wrong-password"}) as r:
                statuses.append(r.status)
                assert "Traceback" not in await r.text()
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"username": 5, "password": "x"}'])
async def test_bad_bodies_get_400_json(server: Server, body: bytes) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{server.url}/api/login", data=body,
                                                    headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert (await r.json())["error"] in ("bad_json", "bad_request")


async def test_oversized_body_is_refused(server: Server) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{server.url}/api/login", data=b"x" * (11 << 20),
                                                    headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
        assert "Traceback" not in await r.text()


def test_non_loopback_bind_needs_tls_or_explicit_flag() -> None:
    with pytest.raises(ConfigError, match="without TLS"):
        ServerSettings(host="0.0.0.0", database_url="postgresql://x").validate()
    ServerSettings(host="0.0.0.0", database_url="postgresql://x", allow_insecure=True).validate()
    ServerSettings(host="127.0.0.1", database_url="postgresql://x").validate()


async def _status(s: aiohttp.ClientSession, method: str, url: str, token: str) -> int:
    async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def test_demotion_and_disabling_take_effect_on_the_next_request(server: Server) -> None:
    """A session carries no role of its own: every request reads the account's role and
    disabled flag (before, a demoted or disabled commander kept its powers until expiry)."""
    token = await server.login("commander")
    conn = await asyncpg.connect(server.db_url)
    try:
        async with aiohttp.ClientSession() as s:
            assert await _status(s, "GET", f"{server.url}/api/audit", token) == 200
            await conn.execute("UPDATE operators SET role = 'viewer' WHERE username = 'commander'")
            assert await _status(s, "GET", f"{server.url}/api/audit", token) == 403
            assert await _status(s, "GET", f"{server.url}/api/snapshot", token) == 200
            await conn.execute("UPDATE operators SET disabled = true WHERE username = 'commander'")
            assert await _status(s, "GET", f"{server.url}/api/snapshot", token) == 401
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(f"{server.ws_url}/ws/live",
                                              additional_headers={"Authorization": f"Bearer {token}"}):
                    pass
    finally:
        await conn.close()


async def test_open_websockets_are_closed_on_demotion_disabling_and_token_rotation(server: Server) -> None:
    """A websocket outlives the request that opened it: it used to keep streaming to a demoted or
    disabled account (and to a gate whose token was rotated). Each open socket re-checks its
    credentials (every 0.3 s here, 5 s by default) and is closed with a code saying why."""
    from command import auth
    from command.security import CLOSE_REVOKED, CLOSE_ROLE_CHANGED

    async def closed_with(ws: websockets.ClientConnection) -> int | None:
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code

    def live(token: str) -> websockets.connect:
        return websockets.connect(f"{server.ws_url}/ws/live", additional_headers={"Authorization": f"Bearer {token}"})

    conn = await asyncpg.connect(server.db_url)
    try:
        async with live(await server.login("commander")) as ws:
            await asyncio.sleep(0.8)
            assert not ws.close_code  # unchanged credentials: the stream goes on
            await conn.execute("UPDATE operators SET role = 'viewer' WHERE username = 'commander'")
            assert await closed_with(ws) == CLOSE_ROLE_CHANGED
        async with live(await server.login("operator")) as ws:
            await conn.execute("UPDATE operators SET disabled = true WHERE username = 'operator'")
            assert await closed_with(ws) == CLOSE_REVOKED
        async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
                "Authorization": f"Bearer {server.gate_tokens['S1']}"}) as ws:
            await auth.create_device_token(conn, auth.Role.GATE, "S1")  # rotated: the old token is void
            assert await closed_with(ws) == CLOSE_REVOKED
    finally:
        await conn.close()


async def test_password_checks_run_off_the_event_loop_and_are_bounded(server: Server) -> None:
    """Twelve logins at once (argon2: ~0.1-0.4 s of CPU each) do not stall the server: health
    answers promptly meanwhile (it took 3.3 s behind 40 logins), and logins beyond the pending
    bound get 503 with Retry-After instead of queueing."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s:
        async def login() -> tuple[int, str | None]:
            async with s.post(f"{server.url}/api/login",
                              json={"username": "operator", "password": server.passwords["operator"]}) as r:
                return r.status, r.headers.get("Retry-After")

        async def health_worst(stop: asyncio.Event) -> float:
            worst = 0.0
            while not stop.is_set():
                t0 = loop.time()
                async with s.get(f"{server.url}/api/health") as r:
                    assert r.status == 200
                worst = max(worst, loop.time() - t0)
                await asyncio.sleep(0.05)
            return worst

        stop = asyncio.Event()
        prober = asyncio.create_task(health_worst(stop))
        await asyncio.sleep(0.2)
        results = await asyncio.gather(*(login() for _ in range(12)))
        stop.set()
        worst = await prober
    statuses = [st for st, _ in results]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 8, statuses
    assert all(retry == "1" for st, retry in results if st == 503)
    assert worst < 1.0, f"health took {worst:.2f} s while passwords were checked"


async def test_spraying_usernames_from_one_address_is_limited(server: Server) -> None:
    """Failed logins count per client address too, not only per address and username (which
    let one address try every username)."""
    statuses = []
    async with aiohttp.ClientSession() as s:
        for i in range(12):
            async with s.post(f"{server.url}/api/login", json={"username": f"user{i}", "password": "guess-123"}) as r:
                statuses.append(r.status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]


async def test_cross_origin_state_changes_and_websocket_upgrades_are_refused(server: Server) -> None:
    """A page of another origin (another port counts) cannot ride the session cookie: its POSTs
    (text/plain included) and its /ws/live upgrade are refused; the same origin is served."""
    token = await server.login("commander")
    evil = "http://127.0.0.1:1"
    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({"eg_session": token})
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        for ctype in ("application/json", "text/plain"):
            async with s.post(f"{server.url}/api/units", data='{"id": "u1", "kind": "medic", "name": "M"}',
                              headers={"Origin": evil, "Content-Type": ctype}) as r:
                assert (r.status, (await r.json())["error"]) == (403, "bad_origin")
        async with s.post(f"{server.url}/api/logout", headers={"Origin": "null"}) as r:
            assert r.status == 403
        async with s.post(f"{server.url}/api/units", json={"id": "u1", "kind": "medic", "name": "M"},
                          headers={"Origin": server.url}) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(f"{server.ws_url}/ws/live", origin=evil)
        assert err.value.status == 403
        async with s.ws_connect(f"{server.ws_url}/ws/live", origin=server.url) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "snapshot"


async def test_every_response_carries_the_security_headers(server: Server) -> None:
    token = await server.login("viewer")
    async with aiohttp.ClientSession() as s:
        for path, status in (("/", 200), ("/static/app.js", 200), ("/api/health", 200), ("/api/nope", 404),
                             ("/api/snapshot", 401), ("/static/../README.md", 404)):
            async with s.get(f"{server.url}{path}") as r:
                assert r.status == status, path
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["X-Frame-Options"] == "DENY"
                assert r.headers["Referrer-Policy"] == "no-referrer"
        async with s.ws_connect(f"{server.ws_url}/ws/live", headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.receive(timeout=10)


async def test_a_connection_that_never_finishes_its_request_head_is_closed(
        db_url: str, venue: object, tmp_path: object) -> None:
    """Slowloris: a client that sends a request head byte by byte (or never ends it) is cut
    off after header_timeout_s (aiohttp waited an hour by default)."""
    from command import server as command_server
    from command.db.embedded import free_port
    from eventguard.config import Venue

    assert isinstance(venue, Venue)
    port = free_port()
    runner = await command_server.start(ServerSettings(port=port, database_url=db_url, header_timeout_s=1.0), venue)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing answered
        assert asyncio.get_running_loop().time() - t0 < 5
        writer.close()
        # a normal client is served
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/api/health") as r:
            assert r.status == 200
    finally:
        await runner.cleanup()


async def test_tokens_in_urls_are_never_accepted(server: Server) -> None:
    """A token in a URL ends up in logs, histories and Referer headers: REST and websocket
    upgrades ignore ?token= (pages send the session cookie, programs the Authorization header)."""
    token = await server.login("viewer")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{server.url}/api/me?token={token}") as r:
            assert r.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(f"{server.ws_url}/ws/live?token={token}")
        assert err.value.status == 401
        async with s.ws_connect(f"{server.ws_url}/ws/live", headers={"Cookie": f"eg_session={token}"},
                                origin=server.url) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
