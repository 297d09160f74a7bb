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
