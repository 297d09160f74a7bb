"""`eventguard privacy …`: erase an event's biometric data after it (command/privacy.py)."""

from __future__ import annotations

import argparse
import getpass
import time
from typing import Any

from shell.cli.common import add, add_db, add_venue, print_json, with_db


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    pg = sub.add_parser("privacy", help="erase biometric data").add_subparsers(
        dest="privacy_command", metavar="ACTION", required=True)
    sp = add(pg, "purge", cmd_privacy_purge,
             "after the event (the venue's event.ends_at): erase every face embedding, sealed photo and "
             "live capture of the event's database, with an audit row; rows, cases and the audit log stay")
    sp.add_argument("--event", required=True, help="event id (must be the venue's)")
    add_venue(sp)
    sp.add_argument("--force", action="store_true", help="purge before the event's end (e.g. it was cancelled)")
    sp.add_argument("--json", action="store_true", help="one JSON object")
    add_db(sp)


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    """Purge the event's biometrics."""
    from command import privacy
    from eventguard.config import load_venue
    from eventguard.errors import ConfigError

    venue = load_venue(args.venue)
    if args.event != venue.event.id:
        raise ConfigError(f"--event {args.event} is not the event of {args.venue} ({venue.event.id})")
    ends = venue.event.ends_at.timestamp() if venue.event.ends_at else None
    actor = f"cli:{getpass.getuser()}"
    out = with_db(args, lambda conn: privacy.purge(conn, args.event, actor=actor, now=time.time(), ends_at=ends,
                                                   force=args.force), event_id=args.event)
    if args.json:
        print_json(out)
    else:
        print(f"event {args.event}: erased the biometrics of {out['registrations']} registrations, "
              f"{out['watchlist_entries']} watchlist entries and {out['captures']} live captures"
              + (" (forced before the event's end)" if out["forced"] else ""))
    return 0
