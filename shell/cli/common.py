"""Helpers shared by the command modules: database, venue and face options, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from eventguard.errors import ConfigError
from eventguard.settings import DEFAULT_VENUE

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def db_url(args: argparse.Namespace) -> str | None:
    url: str | None = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL") or None
    return url


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="PostgreSQL DSN (default: $DATABASE_URL, else the embedded server)")


def add_venue(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    """--venue: the venue file (required where a wrong default would join another event)."""
    if required:
        p.add_argument("--venue", type=Path, required=True, help="venue TOML of the event")
    else:
        p.add_argument("--venue", type=Path, default=DEFAULT_VENUE, help="venue TOML (default: %(default)s)")


ENGINES = ("sface", "dlib-numpy", "dlib")  # vision.engine.EngineName values (kept in sync by a test)


def add_face_engine(p: argparse.ArgumentParser) -> None:
    """--face-engine alone (commands that only embed photos)."""
    p.add_argument("--face-engine", choices=ENGINES, default="sface",
                   help="face engine: sface (YuNet + SFace, the default), dlib-numpy (dlib's model, "
                        "network in numpy) or dlib (dlib's own network: same numbers, ~5x slower)")


def add_face_options(p: argparse.ArgumentParser) -> None:
    """Face pipeline options shared by `gate run` and `bench gate`."""
    add_face_engine(p)
    p.add_argument("--detect-width", type=int, default=None,
                   help="detect faces on a copy this large (default: the engine's lane size, "
                        "SFace 320 px, dlib 480 px wide)")
    p.add_argument("--upsample", type=int, default=0, choices=[0, 1],
                   help="dlib engines: HOG pyramid upsampling")
    p.add_argument("--face-workers", type=int, default=2,
                   help="face worker processes (0: one thread; dlib is not thread-safe)")
    p.add_argument("--verify-threshold", type=float, default=None,
                   help="1:1 distance instead of the engine's calibrated one (see `faces thresholds`)")
    p.add_argument("--screen-threshold", type=float, default=None,
                   help="1:N distance instead of the engine's calibrated one")


def engine_options(args: argparse.Namespace) -> Any:
    """The vision.faceworker.EngineOptions the face options name."""
    from vision.engine import EngineName
    from vision.faceworker import EngineOptions

    return EngineOptions(EngineName(args.face_engine), getattr(args, "detect_width", None),
                         getattr(args, "upsample", 0))


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def with_db(args: argparse.Namespace, fn: Callable[[Any], Awaitable[T]], *, migrate_first: bool = False,
            event_id: str | None = None) -> T:
    """Run fn(connection) on the event's database (embedded unless --database-url), migrated
    first when asked, and bound to `event_id` when given (a database holds one event)."""
    import asyncpg

    from command.db.binding import bind_event
    from command.db.migrate import migrate
    from shell.runtime import database

    async def go(dsn: str) -> T:
        conn = await asyncpg.connect(dsn)
        try:
            if migrate_first or event_id is not None:
                await migrate(conn)
            if event_id is not None:
                await bind_event(conn, event_id)
            return await fn(conn)
        finally:
            await conn.close()

    with database(db_url(args), event_id=event_id) as dbs:
        return asyncio.run(go(dbs.admin))


def event_of(args: argparse.Namespace) -> str:
    """The command's event: --event, else the --venue file's."""
    from eventguard.config import load_venue

    event: str | None = getattr(args, "event", None)
    return event or load_venue(args.venue).event.id


def add(parent: Any, name: str, fn: Handler, help_: str) -> argparse.ArgumentParser:
    """A subcommand that runs `fn`, with its help as description."""
    sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
    sp.set_defaults(func=fn)
    return sp


def add_validity(p: argparse.ArgumentParser) -> None:
    """--valid-from / --valid-until as ISO date-times (default: the venue's event window)."""
    p.add_argument("--valid-from", default=None,
                   help="ISO date-time with offset, e.g. 2026-12-05T17:00:00+08:00 "
                        "(default: the event's doors_open minus an hour)")
    p.add_argument("--valid-until", default=None,
                   help="ISO date-time with offset (default: the event's ends_at)")


def validity(args: argparse.Namespace, event: Any) -> tuple[int, int]:
    """The ticket window the command asks for, defaulting to the event's own (ConfigError if unset)."""
    from command.issuing import default_validity, parse_when

    given = (args.valid_from, args.valid_until)
    start, end = (default_validity(event) if None in given else (0, 0))
    if args.valid_from is not None:
        start = parse_when(args.valid_from, "--valid-from")
    if args.valid_until is not None:
        end = parse_when(args.valid_until, "--valid-until")
    if end <= start:
        raise ConfigError(f"the ticket window ends before it starts ({start} >= {end})")
    return start, end


# ---- face embeddings sealed in the database (issue 17, command/face_seal.py) ----------------

def add_key_dir(p: argparse.ArgumentParser) -> None:
    """--key-dir: where the photo key lives (it also opens the embeddings sealed in the database)."""
    p.add_argument("--key-dir", type=Path, default=None, help="where the photo key lives (default: data dir/keys)")


def face_key(args: argparse.Namespace) -> bytes | None:
    """The photo key that opens sealed embeddings; None if there is none yet (a reader then
    refuses a sealed row in one line rather than make a key that opens nothing)."""
    from command import photo_seal

    path = photo_seal.key_path(getattr(args, "key_dir", None))
    return photo_seal.load_key(path, create=False) if path.exists() else None
