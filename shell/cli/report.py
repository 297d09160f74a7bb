"""`eventguard report`: the after-action report of an event as one HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eventguard.errors import ConfigError
from shell.cli.common import add_db, add_venue, event_of, with_db


def register(sub: Any) -> None:
    """Add this command to the top-level subparsers."""
    text = ("write the after-action report (entries per gate over time, peak density per zone, alerts with "
            "time to acknowledge and resolve, incidents, orders, screening counts; no identities)")
    sp = sub.add_parser("report", help=text, description=text)
    sp.set_defaults(func=cmd_report)
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (default: %(default)s)")
    sp.add_argument("--bucket-min", type=int, default=5, help="minutes per interval of the entries table")
    add_db(sp)


def cmd_report(args: argparse.Namespace) -> int:
    """Gather from the event's database and write the HTML."""
    from command.after_action import gather, render_html

    if not 1 <= args.bucket_min <= 24 * 60:
        raise ConfigError("--bucket-min must be between 1 and 1440")
    event = event_of(args)
    report = with_db(args, lambda conn: gather(conn, event, bucket_s=args.bucket_min * 60), event_id=event)
    args.out.write_text(render_html(report), encoding="utf-8")
    print(f"report of {event} written to {args.out} ({sum(sum(v.values()) for v in report.entries.values())} "
          f"entries, {len(report.alerts)} alerts, {len(report.orders)} orders)")
    return 0
