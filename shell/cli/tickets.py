"""`eventguard keys …` and `eventguard tickets …`: event signing keys, issuing, rendering, revoking."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from shell.cli.common import (
    add,
    add_db,
    add_validity,
    add_venue,
    event_of,
    print_json,
    validity,
    with_db,
)


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    keys = sub.add_parser("keys", help="event signing keys").add_subparsers(
        dest="keys_command", metavar="ACTION", required=True)
    sp = add(keys, "create", cmd_keys_create, "create an Ed25519 signing key for an event")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--key-dir", type=Path, default=None, help="where the private key file goes")
    add_db(sp)

    tk = sub.add_parser("tickets", help="issue, render and revoke tickets").add_subparsers(
        dest="tickets_command", metavar="ACTION", required=True)
    sp = add(tk, "issue", cmd_tickets_issue, "issue signed tickets (valid for the venue's event window)")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--holder", default=None, help="registration id (hex UUID) of the holder")
    sp.add_argument("--entrances", default="", help="comma-separated gate ids (default: all)")
    sp.add_argument("--kind", default="standard")
    add_validity(sp)
    sp.add_argument("--png-dir", type=Path, default=None, help="also write QR PNGs here")
    sp.add_argument("--scale", type=int, default=6, help="PNG pixels per QR module")
    sp.add_argument("--key-dir", type=Path, default=None)
    add_db(sp)
    sp = add(tk, "list", cmd_tickets_list,
             "list an event's tickets: id, holder, kind, status, window (JSON lines, or --csv)")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="CSV with a header row")
    out.add_argument("--json", action="store_true", help="one JSON object per ticket (the default)")
    sp.add_argument("--png-dir", type=Path, default=None, help="also render every valid ticket's QR PNG here")
    sp.add_argument("--scale", type=int, default=6)
    add_db(sp)
    sp = add(tk, "render", cmd_tickets_render, "write the QR PNG of stored tickets")
    sp.add_argument("ticket_ids", nargs="+")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--out", type=Path, default=Path("."))
    sp.add_argument("--scale", type=int, default=6)
    add_db(sp)
    sp = add(tk, "reissue", cmd_tickets_reissue,
             "reissue a lost or stolen ticket: revoke it and issue a new one for the same registration")
    sp.add_argument("ticket_id")
    sp.add_argument("--reason", default="lost or stolen")
    add_venue(sp)
    sp.add_argument("--png-dir", type=Path, default=None, help="also write the new ticket's QR PNG here")
    sp.add_argument("--scale", type=int, default=6)
    sp.add_argument("--key-dir", type=Path, default=None)
    add_db(sp)
    sp = add(tk, "revoke", cmd_tickets_revoke, "revoke a ticket (gates learn it on their next sync)")
    sp.add_argument("ticket_id")
    sp.add_argument("--reason", default="revoked by operator")
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a signing key for an event."""
    from command import issuing

    event_id = event_of(args)
    key_id, path = with_db(args, lambda conn: issuing.create_key(conn, event_id, args.key_dir), event_id=event_id)
    print_json({"event": event_id, "key_id": key_id, "private_key_file": str(path)})
    return 0

def cmd_tickets_issue(args: argparse.Namespace) -> int:
    """Issue N tickets; print one JSON line each (ticket id and QR payload)."""
    from command import issuing
    from eventguard.config import load_venue

    venue = load_venue(args.venue)
    event_id = args.event or venue.event.id
    now = int(time.time())
    valid_from, valid_until = validity(args, venue.event)

    async def go(conn: Any) -> list[tuple[str, str]]:
        key_id, key = await issuing.latest_key(conn, event_id, args.key_dir)
        out = []
        for _ in range(args.count):
            t, payload = await issuing.issue(
                conn, event_id=event_id, key_id=key_id, key=key, valid_from=valid_from,
                valid_until=valid_until, now=now, holder_ref=args.holder,
                entrances=[e for e in (args.entrances or "").split(",") if e], kind=args.kind)
            out.append((t.ticket_id, payload))
        return out

    for ticket_id, payload in with_db(args, go, event_id=event_id):
        row: dict[str, Any] = {"ticket_id": ticket_id, "payload": payload}
        if args.png_dir:
            row["png"] = str(render_ticket(payload, args.png_dir / f"{ticket_id}.png", args.scale))
        print_json(row)
    return 0

def cmd_tickets_list(args: argparse.Namespace) -> int:
    """Print an event's tickets (JSON lines or CSV); optionally render their PNGs."""
    import csv

    from command import issuing
    from eventguard.config import load_venue

    event_id = args.event or load_venue(args.venue).event.id
    rows = with_db(args, lambda conn: issuing.list_tickets(conn, event_id), event_id=event_id)
    for r in rows:
        if args.png_dir and r["status"] == "valid":
            r["png"] = str(render_ticket(str(r["payload"]), args.png_dir / f"{r['ticket_id']}.png", args.scale))
    if args.csv:
        fields = ["ticket_id", "holder_ref", "holder_name", "kind", "entrances", "status", "valid_from",
                  "valid_until", "issued_at", "revoke_reason", "reissued_as", "payload"] + (["png"] if args.png_dir else [])
        w = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            print_json(r)
    print(f"event {event_id}: {len(rows)} tickets, {sum(r['status'] != 'valid' for r in rows)} revoked",
          file=sys.stderr)
    return 0


def render_ticket(payload: str, path: Path, scale: int) -> Path:
    """Render one QR PNG."""
    from command.issuing import render_png

    return render_png(payload, path, scale=scale)

def cmd_tickets_render(args: argparse.Namespace) -> int:
    """Render the QR PNG of stored tickets."""

    async def go(conn: Any) -> list[tuple[str, str]]:
        rows = await conn.fetch("SELECT ticket_id, payload FROM tickets WHERE ticket_id = ANY($1::text[])",
                                args.ticket_ids)
        return [(r["ticket_id"], r["payload"]) for r in rows]

    rows = with_db(args, go, event_id=event_of(args))
    missing = set(args.ticket_ids) - {r[0] for r in rows}
    for ticket_id, payload in rows:
        print_json({"ticket_id": ticket_id, "png": str(render_ticket(payload, args.out / f"{ticket_id}.png",
                                                                          args.scale))})
    for m in sorted(missing):
        print(f"error: unknown ticket {m}", file=sys.stderr)
    return 1 if missing else 0

def cmd_tickets_revoke(args: argparse.Namespace) -> int:
    """Revoke a ticket."""
    from command import issuing

    if not with_db(args, lambda conn: issuing.revoke(conn, args.ticket_id, args.reason), event_id=event_of(args)):
        print(f"error: ticket {args.ticket_id} is unknown or already revoked", file=sys.stderr)
        return 1
    print(f"revoked {args.ticket_id}")
    return 0


def cmd_tickets_reissue(args: argparse.Namespace) -> int:
    """Reissue a ticket; print the new ticket as one JSON line (audited as the OS user)."""
    import getpass

    from command import issuing, store
    from eventguard.config import load_venue

    event_id = load_venue(args.venue).event.id
    now = int(time.time())

    async def go(conn: Any) -> tuple[str, str, str | None]:
        async with conn.transaction():
            key_id, key = await issuing.latest_key(conn, event_id, args.key_dir)
            new, payload = await issuing.reissue(conn, args.ticket_id, event_id=event_id, key_id=key_id, key=key,
                                                 now=now, reason=args.reason)
            await store.audit(conn, f"cli:{getpass.getuser()}", "cli", "ticket_reissue", args.ticket_id,
                              {"event_id": event_id, "reason": args.reason, "new_ticket_id": new.ticket_id})
            return new.ticket_id, payload, new.holder_ref

    try:
        new_id, payload, holder = with_db(args, go, event_id=event_id)
    except issuing.ReissueRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    row: dict[str, Any] = {"reissued": args.ticket_id, "ticket_id": new_id, "holder_ref": holder, "payload": payload}
    if args.png_dir:
        row["png"] = str(render_ticket(payload, args.png_dir / f"{new_id}.png", args.scale))
    print_json(row)
    return 0
