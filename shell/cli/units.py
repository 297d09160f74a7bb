"""`eventguard units add|edit|retire|list`: the event's units and external agencies (audited)."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

import msgspec

from eventguard.codes import UnitCapability, UnitKind, UnitStatus
from eventguard.errors import ConfigError, WireError
from shell.cli.common import add, add_db, add_venue, event_of, print_json, with_db


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    units = sub.add_parser("units", help="units: stewards, police, medics, fire and external agencies"
                           ).add_subparsers(dest="units_command", metavar="ACTION", required=True)
    sp = add(units, "add", cmd_add, "register a unit (available at its home zone)")
    sp.add_argument("unit_id")
    sp.add_argument("--kind", choices=[k.value for k in UnitKind], required=True)
    sp.add_argument("--name", required=True)
    _fields(sp)
    sp = add(units, "edit", cmd_edit, "change a unit's kind, name, capabilities, agency, home, shift or status")
    sp.add_argument("unit_id")
    sp.add_argument("--kind", choices=[k.value for k in UnitKind], default=None)
    sp.add_argument("--name", default=None)
    sp.add_argument("--status", choices=[s.value for s in UnitStatus], default=None)
    _fields(sp)
    sp = add(units, "retire", cmd_retire, "take a unit out of service (kept with its orders)")
    sp.add_argument("unit_id")
    _common(sp)
    sp = add(units, "list", cmd_list, "list the units in service")
    sp.add_argument("--retired", action="store_true", help="include retired units")
    sp.add_argument("--json", action="store_true", help="one JSON array")
    _common(sp)


def _common(sp: argparse.ArgumentParser) -> None:
    add_venue(sp)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    add_db(sp)


def _fields(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--capability", action="append", default=None, choices=[c.value for c in UnitCapability],
                    help="what the unit can do (repeat for several)")
    sp.add_argument("--agency", default=None, help="the agency an external unit comes from")
    sp.add_argument("--home", default=None, help="home zone or gate id")
    sp.add_argument("--shift", default=None, help="HH:MM-HH:MM (empty: always on)")
    _common(sp)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _body(kind: type[Any], fields: dict[str, Any]) -> Any:
    """Validate as the REST door does (same wire type); one line naming the option otherwise."""
    try:
        return msgspec.convert({k: v for k, v in fields.items() if v is not None}, type=kind)
    except msgspec.ValidationError as err:
        raise WireError(str(err).replace("$.", "--").replace("_", "-")) from None


async def _check_home(conn: Any, home: str | None) -> None:
    from command.units import known_places

    places = await known_places(conn)
    if home is not None and places and home not in places:
        raise ConfigError(f"--home {home!r} is not a zone or gate of the event ({', '.join(places)})")


def cmd_add(args: argparse.Namespace) -> int:
    """Register a unit."""
    from command import store, units
    from eventguard.wire import UnitCreateBody, to_builtins

    body = _body(UnitCreateBody, {"id": args.unit_id, "kind": args.kind, "name": args.name,
                                  "capabilities": args.capability, "agency": args.agency,
                                  "home_zone": args.home, "shift": args.shift})

    async def go(conn: Any) -> Any:
        await _check_home(conn, body.home_zone)
        async with conn.transaction():
            unit = await units.create_unit(conn, unit_id=body.id, kind=body.kind, name=body.name,
                                           capabilities=body.capabilities, agency=body.agency,
                                           home_zone=body.home_zone, shift=body.shift)
            await store.audit(conn, _actor(), "cli", "unit_create", unit.id, to_builtins(unit))
        return unit

    unit = with_db(args, go, event_id=event_of(args))
    print(f"unit {unit.id} ({unit.kind}) added")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    """Change a unit."""
    from command import store, units
    from eventguard.wire import UnitEditBody, to_builtins

    body = _body(UnitEditBody, {"kind": args.kind, "name": args.name, "capabilities": args.capability,
                                "agency": args.agency, "home_zone": args.home, "shift": args.shift,
                                "status": args.status})

    async def go(conn: Any) -> Any:
        await _check_home(conn, body.home_zone)
        async with conn.transaction():
            before, after = await units.edit_unit(
                conn, args.unit_id, kind=body.kind, name=body.name, capabilities=body.capabilities,
                agency=body.agency, home_zone=body.home_zone, shift=body.shift, status=body.status)
            old, new = to_builtins(before), to_builtins(after)
            await store.audit(conn, _actor(), "cli", "unit_edit", after.id,
                              {k: {"from": old[k], "to": v} for k, v in new.items()
                               if old.get(k) != v and k != "updated_at"})
        return after

    unit = with_db(args, go, event_id=event_of(args))
    print(f"unit {unit.id} saved")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    """Retire a unit."""
    from command import store, units

    async def go(conn: Any) -> Any:
        async with conn.transaction():
            unit = await units.retire_unit(conn, args.unit_id)
            await store.audit(conn, _actor(), "cli", "unit_retire", unit.id, {})
        return unit

    with_db(args, go, event_id=event_of(args))
    print(f"unit {args.unit_id} retired")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List units."""
    from command import dispatch
    from eventguard.wire import to_builtins

    found = with_db(args, lambda conn: dispatch.list_units(conn, include_retired=args.retired),
                    event_id=event_of(args))
    if args.json:
        print_json(to_builtins(found))
        return 0
    for u in found:
        caps = ",".join(u.capabilities) or "-"
        state = "retired" if u.retired else u.status
        print(f"{u.id}\t{u.kind}\t{state}\t{u.home_zone or '-'}\t{u.shift or 'always'}\t{caps}\t{u.name}"
              + (f" ({u.agency})" if u.agency else ""))
    return 0
