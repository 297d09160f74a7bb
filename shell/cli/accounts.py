"""`eventguard operators …` and `eventguard gates …`: operator accounts and gate tokens."""

from __future__ import annotations

import argparse
import os
from typing import Any

from eventguard.errors import ConfigError
from shell.cli.common import add, add_db, add_venue, event_of, with_db


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    ops = sub.add_parser("operators", help="operator accounts").add_subparsers(
        dest="op_command", metavar="ACTION", required=True)
    sp = add(ops, "create", cmd_operator_create, "create or update an operator (password from $EVENTGUARD_PASSWORD or prompt)")
    sp.add_argument("username")
    sp.add_argument("--role", choices=["commander", "operator", "viewer"], required=True)
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)

    gates = sub.add_parser("gates", help="gate credentials").add_subparsers(
        dest="gate_command", metavar="ACTION", required=True)
    sp = add(gates, "token", cmd_gate_token, "issue (or rotate) a gate's token")
    sp.add_argument("gate_id")
    add_venue(sp)
    add_db(sp)
    sp = add(gates, "pin", cmd_gate_pin, "issue (or replace) a steward's PIN for one gate's terminal")
    sp.add_argument("gate_id")
    sp.add_argument("--steward", required=True, help="the steward's name, shown on each decision and audited")
    add_venue(sp)
    add_db(sp)


def cmd_operator_create(args: argparse.Namespace) -> int:
    """Create or update an operator account."""
    import getpass

    from command.auth import Role, create_operator

    password = os.environ.get("EVENTGUARD_PASSWORD") or getpass.getpass("password: ")
    with_db(args, lambda conn: create_operator(conn, args.username, password, Role(args.role)),
            event_id=event_of(args))
    print(f"operator {args.username} ({args.role}) saved")
    return 0

def cmd_gate_token(args: argparse.Namespace) -> int:
    """Issue a token for one gate (printed once; only its hash is stored)."""
    from command.auth import Role, create_device_token
    from eventguard.config import load_venue
    from eventguard.config import suggest as nearest

    venue = load_venue(args.venue)
    known = [g.id for g in venue.gates]
    if args.gate_id not in known:
        raise ConfigError(f"gate {args.gate_id!r} is not in {args.venue}{nearest(args.gate_id, known)}")
    print(with_db(args, lambda conn: create_device_token(conn, Role.GATE, args.gate_id), event_id=venue.event.id))
    return 0


def cmd_gate_pin(args: argparse.Namespace) -> int:
    """Issue a steward's PIN for one gate's terminal (printed once; only its hash is stored)."""
    import msgspec

    from command.steward_pins import issue_pin
    from eventguard.config import load_venue
    from eventguard.config import suggest as nearest
    from eventguard.wire import Name64

    venue = load_venue(args.venue)
    known = [g.id for g in venue.gates]
    if args.gate_id not in known:
        raise ConfigError(f"gate {args.gate_id!r} is not in {args.venue}{nearest(args.gate_id, known)}")
    try:
        steward = msgspec.convert(args.steward, Name64)
    except msgspec.ValidationError:
        raise ConfigError("--steward must be a one-line name of 1 to 64 characters") from None
    print(with_db(args, lambda conn: issue_pin(conn, venue.event.id, args.gate_id, steward),
                  event_id=venue.event.id))
    return 0
