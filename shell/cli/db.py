"""`eventguard db …`: migrations and the embedded PostgreSQL."""

from __future__ import annotations

import argparse
from typing import Any

from eventguard.settings import data_dir
from shell.cli.common import add, add_db, add_key_dir, add_venue, event_of, with_db


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    db = sub.add_parser("db", help="database: migrate, start/stop the embedded server").add_subparsers(
        dest="db_command", metavar="ACTION", required=True)
    sp = add(db, "migrate", cmd_db_migrate, "apply pending SQL migrations from sql/ to the event's database")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)
    sp = add(db, "seal-encodings", cmd_db_seal_encodings,
             "seal every face embedding still stored in clear with the photo key (resumable; the server "
             "also does it at start)")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)
    add_key_dir(sp)
    add(db, "start", cmd_db_start, "start the embedded PostgreSQL and print its (superuser) DSN")
    add(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL")


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations."""
    from command.db.migrate import migrate

    applied = with_db(args, migrate, event_id=event_of(args))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0

def cmd_db_seal_encodings(args: argparse.Namespace) -> int:
    """Seal the clear embeddings (sql/0023, command/face_seal.py); one line per table."""
    import sys

    from command import face_seal, photo_seal

    path = photo_seal.key_path(args.key_dir)
    key = photo_seal.load_key(path)  # made (0600) if this database has never sealed anything

    def progress(table: str, n: int) -> None:
        print(f"  {table}: {n} sealed", file=sys.stderr, flush=True)

    async def go(conn: Any) -> tuple[dict[str, int], dict[str, int]]:
        await face_seal.check_key(conn, key, str(path))
        return await face_seal.seal_clear_rows(conn, key, progress=progress), await face_seal.clear_rows(conn)

    done, left = with_db(args, go, event_id=event_of(args))
    for table, n in done.items():
        print(f"{table}: {n} sealed now, {left[table]} still clear")
    return 0 if not any(left.values()) else 1


def cmd_db_start(args: argparse.Namespace) -> int:
    """Start the embedded PostgreSQL and print its DSN."""
    from shell.runtime import database

    with database(None, keep_running=True) as dbs:
        print(dbs.admin)
    return 0

def cmd_db_stop(args: argparse.Namespace) -> int:
    """Stop the embedded PostgreSQL."""
    from command.db.embedded import EmbeddedPostgres

    EmbeddedPostgres(data_dir() / "pgdata").stop()
    return 0
