"""Shared fixtures: a real PostgreSQL cluster per test session, a fresh database per test,
and a running command server on loopback. Nothing here is mocked."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from support import Server

from command.db.embedded import EmbeddedPostgres, free_port
from command.db.migrate import migrate
from eventguard.config import Venue, load_venue
from eventguard.settings import DEFAULT_VENUE


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedPostgres]:
    """A throwaway PostgreSQL cluster (DATABASE_URL is not used: tests own their server).

    Its data dir is outside pytest's 0700 temp root so the unprivileged server user can
    reach it when the suite runs as root."""
    root = Path(tempfile.mkdtemp(prefix="eventguard-test-pg-"))
    server = EmbeddedPostgres(root / "data", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def db_url(pg: EmbeddedPostgres) -> AsyncIterator[str]:
    """DSN of a fresh, migrated database dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = pg.dsn(name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    if not pg.running():
        pg.start()
    admin = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's database."""
    c = await asyncpg.connect(db_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture(scope="session")
def venue() -> Venue:
    """The demo venue (three zones, three gates)."""
    return load_venue(DEFAULT_VENUE)


@pytest.fixture
def live_replicas() -> int:
    """Fan-out replicas beside the `server` fixture (issue 20); 0: it serves /ws/live itself."""
    return 0


@pytest.fixture
def server_settings() -> dict[str, Any]:
    """More ServerSettings fields for the `server` fixture (a test module may override it)."""
    return {}


@pytest.fixture
async def server(db_url: str, venue: Venue, tmp_path: Path, pg: EmbeddedPostgres,
                 live_replicas: int, server_settings: dict[str, Any]) -> AsyncIterator[Server]:
    """A real command server on a free port with demo operators and gate tokens (and
    `live_replicas` fan-out processes serving /ws/live: the browser tests use one)."""
    from command import server
    from command.provision import DEMO_USERS, provision
    from eventguard.settings import ServerSettings

    prov = await provision(db_url, venue, tmp_path / "keys")
    port = free_port()
    app_url = pg.app_dsn(db_url.rsplit("/", 1)[1])  # the server runs as the app role, as in production
    runner = await server.start(ServerSettings(port=port, database_url=app_url, admin_database_url=db_url,
                                               key_dir=tmp_path / "keys", session_recheck_s=0.3,
                                               live_replicas=live_replicas, **server_settings), venue)
    try:
        yield Server(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", db_url=db_url,
                     venue=venue, gate_tokens=prov.gate_tokens,
                     passwords={u: p for u, (p, _) in DEMO_USERS.items()}, app=runner.app,
                     camera_tokens=prov.camera_tokens)
    finally:
        await runner.cleanup()


# ---- digital twin (issue 19) -----------------------------------------------------------------


@pytest.fixture
async def twin_server(db_url: str, venue: Venue, tmp_path: Path, pg: EmbeddedPostgres) -> AsyncIterator[Server]:
    """`server` with the twin beside it (sim/twin_model.py), forecasting every 0.5 s."""
    from command import server
    from command.provision import DEMO_USERS, provision
    from eventguard.settings import DEFAULT_VENUE, ServerSettings
    from sim.twin_model import VenueTwin

    prov = await provision(db_url, venue, tmp_path / "keys")
    port = free_port()
    app_url = pg.app_dsn(db_url.rsplit("/", 1)[1])
    runner = await server.start(ServerSettings(port=port, database_url=app_url, admin_database_url=db_url,
                                               key_dir=tmp_path / "keys", session_recheck_s=0.3,
                                               twin_interval_s=0.5),
                                venue, twin=VenueTwin.for_venue(venue, DEFAULT_VENUE))
    try:
        yield Server(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", db_url=db_url,
                     venue=venue, gate_tokens=prov.gate_tokens,
                     passwords={u: p for u, (p, _) in DEMO_USERS.items()}, app=runner.app)
    finally:
        await runner.cleanup()
