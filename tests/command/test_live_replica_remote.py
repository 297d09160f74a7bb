"""A live replica on "another machine" (issue 20): `eventguard live-replica` as its own process,
started by hand with a fixed feed secret, serving /ws/live behind the server's public live URL.
Real server, real replica process, real PostgreSQL, real websockets."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from support import Server, send_entries, wait_for

from command.db.embedded import EmbeddedPostgres, free_port
from eventguard.errors import ConfigError
from eventguard.settings import read_secret_file
from eventguard.wire import Snapshot, ZonesUpdate, decode_server_message

EG = [sys.executable, "-m", "shell.cli"]
REPLICA_PORT = free_port()


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
def live_replicas() -> int:
    return 0  # no local replicas: only the one this test starts


@pytest.fixture
def server_settings(tmp_path: Path) -> dict[str, Any]:
    return {"live_feed_secret_file": secret_file(tmp_path / "feed.secret", secrets.token_urlsafe(32)),
            "live_public_url": f"ws://127.0.0.1:{REPLICA_PORT}/ws/live"}


async def start_replica(server: Server, pg: EmbeddedPostgres, secret: Path, port: int
                        ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *EG, "live-replica", "--server", server.url, "--feed-secret-file", str(secret),
        "--listen", f"127.0.0.1:{port}", "--database-url", pg.app_dsn(server.db_url.rsplit("/", 1)[1]),
        stderr=asyncio.subprocess.PIPE)


@pytest.fixture
async def replica(server: Server, pg: EmbeddedPostgres, tmp_path: Path) -> AsyncIterator[None]:
    proc = await start_replica(server, pg, tmp_path / "feed.secret", REPLICA_PORT)

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{REPLICA_PORT}/health") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await wait_for(healthy, within=15)
        yield
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.usefixtures("replica")
async def test_a_standalone_replica_serves_the_public_live_url(server: Server) -> None:
    token = await server.login("operator")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{server.url}/api/live", headers=headers) as r:
            where = await r.json()
        async with s.get(f"{server.url}/") as r:  # the page may connect to the public live URL
            assert f"connect-src 'self' ws://127.0.0.1:{REPLICA_PORT}" in r.headers["Content-Security-Policy"]
    assert where["url"] == f"ws://127.0.0.1:{REPLICA_PORT}/ws/live"
    # the server's page origin and its session cookie are accepted, another origin is not
    async with websockets.connect(where["url"], origin=server.url,  # type: ignore[arg-type]
                                  additional_headers={"Cookie": f"eg_session={token}"}) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Snapshot)
        await send_entries(server, "N1", 2)
        async with asyncio.timeout(10):
            while True:
                m = decode_server_message(await ws.recv())
                if isinstance(m, ZonesUpdate) and any(z.id == "north" and z.occupancy == 2 for z in m.zones):
                    break
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(where["url"], origin="http://evil.example",  # type: ignore[arg-type]
                                      additional_headers=headers):
            pass
    assert err.value.response.status_code == 403


async def test_a_replica_with_the_wrong_secret_stops_in_one_line(server: Server, pg: EmbeddedPostgres,
                                                                 tmp_path: Path) -> None:
    wrong = secret_file(tmp_path / "wrong.secret", secrets.token_urlsafe(32))
    proc = await start_replica(server, pg, wrong, free_port())
    try:
        async with asyncio.timeout(15):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, lines
    assert "refused the feed secret (HTTP 401)" in lines[-1] and lines[-1].startswith("error: ")
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize(("text", "mode", "says"), [
    ("x" * 40, 0o644, "readable by others"),
    ("short", 0o600, "at least 32 characters"),
    ("a" * 40 + "\n" + "b" * 40, 0o600, "one line"),
])
def test_the_feed_secret_file_is_checked(tmp_path: Path, text: str, mode: int, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        read_secret_file(secret_file(tmp_path / "s", text, mode), "live_feed_secret_file")
    assert os.access(tmp_path / "s", os.R_OK)
