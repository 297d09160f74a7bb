"""`eventguard soak`: the stack under load and faults."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from shell.cli.common import add, add_venue, print_json


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    sp = add(sub, "soak", cmd_soak, "run the stack with load and faults for N minutes; print sent/stored/lost")
    add_venue(sp)
    sp.add_argument("--minutes", type=float, default=5.0)
    sp.add_argument("--rate", type=float, default=20.0, help="scans per second over all gates")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--no-faults", action="store_true", help="no server kills or database stops")


def cmd_soak(args: argparse.Namespace) -> int:
    """Run the stack under load with faults for N minutes; report sent/stored/lost."""
    from eventguard.config import load_venue
    from shell.runtime import setup_logging
    from shell.soak import soak

    setup_logging(args.verbose)
    report = asyncio.run(soak(load_venue(args.venue), args.minutes, rate_per_s=args.rate, seed=args.seed,
                              faults=not args.no_faults, venue_path=args.venue,
                              log=lambda m: print(m, file=sys.stderr, flush=True)))
    print_json(report)
    return 0 if report["lost"] == 0 and report["unexpected"] == 0 and report["counters_agree"] else 1
