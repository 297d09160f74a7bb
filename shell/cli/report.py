"""`eventguard report`: the after-action report of an event as one HTML file, and as a PDF
printed from it by headless Chromium (`--pdf`)."""

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
    sp.add_argument("--pdf", type=Path, default=None,
                    help="also print the page to this PDF file with headless Chromium (Debian's chromium)")
    sp.add_argument("--chromium", type=Path, default=None,
                    help="the Chromium to print the PDF with (default: the first of chromium, chromium-browser, "
                         "google-chrome, google-chrome-stable on PATH, else /usr/bin/chromium)")
    sp.add_argument("--bucket-min", type=int, default=5, help="minutes per interval of the entries table")
    add_db(sp)


def cmd_report(args: argparse.Namespace) -> int:
    """Gather from the event's database, write the HTML and, with --pdf, print it to PDF."""
    from command.after_action import gather, render_html
    from shell.pdf import find_chromium, print_to_pdf

    if not 1 <= args.bucket_min <= 24 * 60:
        raise ConfigError("--bucket-min must be between 1 and 1440")
    chromium = find_chromium(args.chromium) if args.pdf is not None else None  # before any work: say it now
    event = event_of(args)
    report = with_db(args, lambda conn: gather(conn, event, bucket_s=args.bucket_min * 60), event_id=event)
    args.out.write_text(render_html(report), encoding="utf-8")
    print(f"report of {event} written to {args.out} ({sum(sum(v.values()) for v in report.entries.values())} "
          f"entries, {len(report.alerts)} alerts, {len(report.orders)} orders)")
    if chromium is not None:
        size = print_to_pdf(args.out, args.pdf, chromium=chromium)
        print(f"PDF written to {args.pdf} ({size:,} bytes, printed by {chromium})")
    return 0
