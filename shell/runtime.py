"""Process-level helpers shared by the programs: which database, logging."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import NamedTuple

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


class Databases(NamedTuple):
    """DSNs of one database: `admin` for migrations and tools, `app` for the command server."""

    admin: str
    app: str


@contextlib.contextmanager
def database(url: str | None, *, keep_running: bool = False) -> Iterator[Databases]:
    """Yield the DSNs: the given URL for both, or an embedded server under the user's data dir
    (its superuser and its app role; started if needed, stopped afterwards unless it was
    already running or keep_running)."""
    if url:
        yield Databases(url, url)
        return
    pg = EmbeddedPostgres(data_dir() / "pgdata", port=int(os.environ.get("EVENTGUARD_PG_PORT", "54329")))
    was_running = (pg.datadir / "PG_VERSION").exists() and pg.running()
    pg.start()
    try:
        yield Databases(pg.dsn("postgres"), pg.app_dsn("postgres"))
    finally:
        if not (was_running or keep_running):
            pg.stop()
