"""`eventguard screening …`: the registrant pre-screening report, and a pre-screening run on demand."""

from __future__ import annotations

import argparse
from typing import Any

from shell.cli.common import (
    add,
    add_db,
    add_face_engine,
    add_key_dir,
    add_venue,
    engine_options,
    event_of,
    face_key,
    print_json,
    with_db,
)


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    sg = sub.add_parser("screening", help="watchlist screening of registrants and its review").add_subparsers(
        dest="screening_command", metavar="ACTION", required=True)
    sp = add(sg, "report", cmd_screening_report,
             "registrants screened against the watchlists, candidates, decided, pending and held")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_venue(sp)
    sp.add_argument("--json", action="store_true", help="one JSON object")
    add_db(sp)
    sp = add(sg, "run", cmd_screening_run,
             "pre-screen every registration of the event against every watchlist now; candidates are held for review")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_venue(sp)
    add_face_engine(sp)
    sp.add_argument("--json", action="store_true", help="one JSON object")
    add_db(sp)
    add_key_dir(sp)  # opens the embeddings sealed in the database


def cmd_screening_report(args: argparse.Namespace) -> int:
    """Print the pre-screening report of an event."""
    from command import prescreen

    event_id = event_of(args)
    rep = with_db(args, lambda conn: prescreen.report(conn, event_id), event_id=event_id)
    if args.json:
        print_json(rep)
    else:
        print(f"event {event_id}: registrants {rep['registrants']}, screened {rep['screened']} "
              f"({rep['runs']} runs), candidates {rep['candidates']} ({rep['cases']} cases), "
              f"decided {rep['decided']} (confirmed {rep['confirmed']}, dismissed {rep['dismissed']}), "
              f"pending {rep['pending']}, held {rep['held']}; gate hits {rep['gate_cases']} "
              f"(pending {rep['gate_pending']})")
    return 0


def cmd_screening_run(args: argparse.Namespace) -> int:
    """Pre-screen the event's registrations now."""
    from command import prescreen
    from vision.engine import spec

    event_id = event_of(args)
    eng = spec(engine_options(args).name)
    key = face_key(args)
    run = with_db(args, lambda conn: prescreen.prescreen(conn, event_id, eng, cause="manual", actor="screening run",
                                                         face_key=key),
                  migrate_first=True, event_id=event_id)
    out = {"event_id": event_id, "registrations": run.registrations, "entries": run.entries,
           "candidates": len(run.candidates), "opened": run.opened}
    if args.json:
        print_json(out)
    else:
        print(f"event {event_id}: {run.registrations} registrations against {run.entries} entries: "
              f"{len(run.candidates)} candidates, {run.opened} new cases (held for review)")
    return 0
