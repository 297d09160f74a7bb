"""`eventguard register …`: real-name registration (实名制) import and withdrawal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from shell.cli.common import (
    add,
    add_db,
    add_face_engine,
    add_validity,
    add_venue,
    db_url,
    engine_options,
    event_of,
    print_json,
    validity,
    with_db,
)


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    rg = sub.add_parser("register", help="real-name registration (实名制)").add_subparsers(
        dest="register_command", metavar="ACTION", required=True)
    sp = add(rg, "import", cmd_register_import,
             "import registrations: CSV columns name,id_number,ticket_type,entrances,photo "
             "(entrances like N1;N2, empty = all; photo = file name in --photos); re-running skips "
             "rows already imported; exit status 1 if any row was rejected")
    sp.add_argument("csv", type=Path)
    sp.add_argument("--photos", type=Path, required=True, help="folder with the photo files")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_venue(sp, required=True)
    sp.add_argument("--issue-tickets", action="store_true",
                    help="issue a signed ticket per registration that has none")
    add_validity(sp)
    sp.add_argument("--batch-size", type=int, default=50, help="rows per transaction")
    sp.add_argument("--workers", type=int, default=None, help="face threads (default: CPU count)")
    sp.add_argument("--key-dir", type=Path, default=None,
                    help="signing keys, the ID-number HMAC secret and the photo key (default: data dir/keys)")
    add_face_engine(sp)
    sp.add_argument("--json", action="store_true", help="one JSON line per row, then a summary line")
    add_db(sp)
    sp = add(rg, "remove", cmd_register_remove, "withdraw a registration")
    sp.add_argument("registration_id")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)


def cmd_register_import(args: argparse.Namespace) -> int:
    """Import registrations from CSV + photos; print per-row results and a summary."""
    import asyncpg

    from command import issuing, photo_seal, registration
    from command.db.binding import bind_event
    from command.db.migrate import migrate
    from eventguard.config import load_venue
    from shell.runtime import database

    venue = load_venue(args.venue)
    event_id = args.event or venue.event.id
    secret = registration.load_id_secret(registration.id_key_path(args.key_dir))
    photo_key = photo_seal.load_key(photo_seal.key_path(args.key_dir))
    now = int(time.time())
    window = validity(args, venue.event) if args.issue_tickets else (0, 0)

    def show(r: registration.RowResult) -> None:
        if args.json:
            print_json(r.as_dict())
        elif r.status is registration.RowStatus.REJECTED:
            print(f"line {r.line}: rejected {r.code}: {r.detail}", flush=True)
        else:
            ticket = (f", ticket {r.ticket_id}" + ("" if r.ticket_issued else " (existing)")) if r.ticket_id else ""
            print(f"line {r.line}: {r.status.value} {r.registration_id}{ticket}", flush=True)

    async def go(dsn: str) -> registration.ImportSummary:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            await bind_event(conn, event_id)
            plan = None
            if args.issue_tickets:
                key_id, key = await issuing.latest_key(conn, event_id, args.key_dir)
                plan = registration.TicketPlan(key_id, key, valid_from=window[0], valid_until=window[1],
                                               now=now)
            return await registration.import_csv(
                conn, args.csv, args.photos, event_id=event_id, secret=secret, photo_key=photo_key,
                tickets_plan=plan, batch_size=args.batch_size, workers=args.workers,
                engine=engine_options(args))
        finally:
            await conn.close()

    with database(db_url(args), event_id=event_id) as dbs:
        summary = asyncio.run(go(dbs.admin))
    for r in summary.rows:
        show(r)
    totals = summary.as_dict()
    if args.json:
        print_json({"summary": totals, "event": event_id})
    else:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(totals["reasons"].items())) or "none"
        print(f"event {event_id}: imported {totals['imported']}, already registered {totals['skipped']}, "
              f"rejected {totals['rejected']} ({reasons}); tickets issued {totals['tickets']}, "
              f"existing {totals['tickets_existing']}")
    return 1 if totals["rejected"] else 0

def cmd_register_remove(args: argparse.Namespace) -> int:
    """Withdraw a registration (gates drop the face on their next sync)."""
    from command import registration

    if not with_db(args, lambda conn: registration.remove(conn, args.registration_id), event_id=event_of(args)):
        print(f"error: registration {args.registration_id} is unknown or already removed", file=sys.stderr)
        return 1
    print(f"removed {args.registration_id}")
    return 0
