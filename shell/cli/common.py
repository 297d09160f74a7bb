"""Helpers shared by the command modules: database, venue and face options, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from eventguard.settings import DEFAULT_VENUE

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def db_url(args: argparse.Namespace) -> str | None:
    url: str | None = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL") or None
    return url


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="PostgreSQL DSN (default: $DATABASE_URL, else the embedded server)")


def add_venue(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venue", type=Path, default=DEFAULT_VENUE, help="venue TOML (default: %(default)s)")


def add_face_options(p: argparse.ArgumentParser) -> None:
    """Face pipeline options shared by `gate run` and `bench gate`."""
    p.add_argument("--detect-width", type=int, default=480)
    p.add_argument("--upsample", type=int, default=0, choices=[0, 1], help="HOG pyramid upsampling")
    p.add_argument("--face-engine", choices=["numpy", "dlib"], default="numpy",
                   help="descriptor network implementation (same encodings; numpy ~5x faster here)")
    p.add_argument("--face-workers", type=int, default=2,
                   help="face worker processes (0: one thread; dlib is not thread-safe)")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def with_db(args: argparse.Namespace, fn: Callable[[Any], Awaitable[T]], *, migrate_first: bool = False) -> T:
    """Run fn(connection) on the command's database (embedded unless --database-url)."""
    import asyncpg

    from command.db.migrate import migrate
    from shell.runtime import database

    async def go(dsn: str) -> T:
        conn = await asyncpg.connect(dsn)
        try:
            if migrate_first:
                await migrate(conn)
            return await fn(conn)
        finally:
            await conn.close()

    with database(db_url(args)) as dbs:
        return asyncio.run(go(dbs.admin))


def add(parent: Any, name: str, fn: Handler, help_: str) -> argparse.ArgumentParser:
    """A subcommand that runs `fn`, with its help as description."""
    sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
    sp.set_defaults(func=fn)
    return sp
