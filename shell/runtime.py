"""Process-level helpers shared by the programs: which database, logging."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import NamedTuple

from command.db.binding import database_name
from command.db.embedded import EmbeddedPostgres
from eventguard.logs import EscapingFormatter
from eventguard.settings import data_dir


def setup_logging(verbose: bool = False) -> None:
    """Plain, timestamped logs on stderr, one line per message (control characters escaped)."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)


def embedded() -> EmbeddedPostgres:
    """The user's embedded PostgreSQL server (its data under the data dir)."""
    return EmbeddedPostgres(data_dir() / "pgdata", port=int(os.environ.get("EVENTGUARD_PG_PORT", "54329")))


def _ensure_database(pg: EmbeddedPostgres, name: str) -> None:
    """CREATE DATABASE name on the embedded server if it does not exist yet."""
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(pg.dsn("postgres"))
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')  # name is [a-z0-9_] (database_name)
        finally:
            await conn.close()

    asyncio.run(go())


class Databases(NamedTuple):
    """DSNs of one database: `admin` for migrations and tools, `app` for the command server."""

    admin: str
    app: str


@contextlib.contextmanager
def database(url: str | None, *, event_id: str | None = None, keep_running: bool = False
             ) -> Iterator[Databases]:
    """Yield the DSNs: the given URL for both, or the embedded server under the user's data dir
    (its superuser and its app role; started if needed, stopped afterwards unless it was already
    running or keep_running). On the embedded server every event has its own database
    (eg_<event>); without an event, `postgres`."""
    if url:
        yield Databases(url, url)
        return
    pg = embedded()
    was_running = (pg.datadir / "PG_VERSION").exists() and pg.running()
    pg.start()
    try:
        if event_id is None:
            yield Databases(pg.dsn("postgres"), pg.app_dsn("postgres"))
        else:
            name = database_name(event_id)
            _ensure_database(pg, name)
            yield Databases(pg.dsn(name), pg.app_dsn(name))
    finally:
        if not (was_running or keep_running):
            pg.stop()
