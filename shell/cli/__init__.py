"""`eventguard` command line: one subcommand per task, each with --help; one module per group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eventguard.errors import EventGuardError
from shell.cli import (
    accounts,
    bench,
    camera,
    db,
    faces,
    gate,
    privacy,
    qr,
    register,
    screening,
    serve,
    sim,
    soak,
    tickets,
)
from shell.cli import live as live_replica  # live replicas on other machines (issue 20)
from shell.cli import report as report_command  # command operations (issue 20)
from shell.cli import units as units_group  # command operations (issue 20)

GROUPS = (db, serve, live_replica, accounts, tickets, register, qr, faces, gate, bench, soak, sim, units_group, report_command,
          camera,  # crowd sensing (issue 18)
          screening, privacy)  # screening, privacy: issue 17


def build_parser() -> argparse.ArgumentParser:
    """The full command tree."""
    p = argparse.ArgumentParser(prog="eventguard", description="EventGuard: security control for large events.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C (servers, gates, embedded PostgreSQL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # (tests call main() from threads)
        signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except EventGuardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file or a socket the command was pointed at: say which, no traceback
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
