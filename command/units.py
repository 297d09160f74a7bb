"""Units of every kind an event uses: thin store functions (create, edit, retire, report)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from command.dispatch import unit_view
from command.errors import Conflict, NotFound
from eventguard.wire import UnitView


async def create_unit(conn: asyncpg.Connection, *, unit_id: str, kind: str, name: str,
                      capabilities: Sequence[str] = (), agency: str = "", home_zone: str | None = None,
                      home_x: float | None = None, home_y: float | None = None, shift: str = "") -> UnitView:
    """A new unit, available at its home (Conflict if the id is taken, retired units included, or
    is a gate's or a zone's: orders, acks and the map address units, gates and zones by id, and a
    unit "N1" would be sent gate N1's orders)."""
    if unit_id in await known_places(conn):
        raise Conflict(f"unit id {unit_id} is the id of a gate or zone of the venue; choose another")
    r = await conn.fetchrow(
        "INSERT INTO units (id, kind, name, capabilities, agency, home_zone, home_x, home_y, shift,"
        " zone, x, y) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $6, $7, $8)"
        " ON CONFLICT (id) DO NOTHING RETURNING *",
        unit_id, kind, name, list(capabilities), agency, home_zone, home_x, home_y, shift)
    if r is None:
        raise Conflict(f"unit {unit_id} exists")
    return unit_view(r)


async def edit_unit(conn: asyncpg.Connection, unit_id: str, *, kind: str | None = None, name: str | None = None,
                    capabilities: Sequence[str] | None = None, agency: str | None = None,
                    home_zone: str | None = None, home_x: float | None = None, home_y: float | None = None,
                    shift: str | None = None, status: str | None = None) -> tuple[UnitView, UnitView]:
    """Change the given fields of a unit in service; (before, after)."""
    async with conn.transaction():
        before = await conn.fetchrow("SELECT * FROM units WHERE id = $1 AND retired_at IS NULL FOR UPDATE",
                                     unit_id)
        if before is None:
            raise NotFound(f"no unit {unit_id} in service")
        r = await conn.fetchrow(
            "UPDATE units SET kind = coalesce($2, kind), name = coalesce($3, name),"
            " capabilities = coalesce($4, capabilities), agency = coalesce($5, agency),"
            " home_zone = coalesce($6, home_zone), home_x = coalesce($7, home_x), home_y = coalesce($8, home_y),"
            " shift = coalesce($9, shift), status = coalesce($10, status), updated_at = now()"
            " WHERE id = $1 RETURNING *",
            unit_id, kind, name, None if capabilities is None else list(capabilities), agency, home_zone,
            home_x, home_y, shift, status)
    return unit_view(before), unit_view(r)


async def retire_unit(conn: asyncpg.Connection, unit_id: str) -> UnitView:
    """Take a unit out of service (kept for its orders and the audit log); its phone is signed out."""
    async with conn.transaction():
        r = await conn.fetchrow("UPDATE units SET retired_at = now(), status = 'off', updated_at = now()"
                                " WHERE id = $1 AND retired_at IS NULL RETURNING *", unit_id)
        if r is None:
            raise NotFound(f"no unit {unit_id} in service")
        await conn.execute("DELETE FROM unit_credentials WHERE unit_id = $1", unit_id)
    return unit_view(r)


async def get_unit(conn: asyncpg.Connection, unit_id: str) -> UnitView:
    """One unit (NotFound if unknown)."""
    r = await conn.fetchrow("SELECT * FROM units WHERE id = $1", unit_id)
    if r is None:
        raise NotFound(f"no unit {unit_id}")
    return unit_view(r)


async def report(conn: asyncpg.Connection, unit_id: str, *, status: str | None, x: float | None,
                 y: float | None, zone: str | None) -> UnitView:
    """A responder's report: status and/or where the unit is now."""
    r = await conn.fetchrow(
        "UPDATE units SET status = coalesce($2, status), x = coalesce($3, x), y = coalesce($4, y),"
        " zone = coalesce($5, zone), updated_at = now() WHERE id = $1 AND retired_at IS NULL RETURNING *",
        unit_id, status, x, y, zone)
    if r is None:
        raise NotFound(f"no unit {unit_id} in service")
    return unit_view(r)


async def known_places(conn: asyncpg.Connection) -> list[str]:
    """Zone and gate ids the server stored from the venue file (empty before its first start)."""
    rows = await conn.fetch("SELECT id FROM zones UNION ALL SELECT id FROM gates ORDER BY 1")
    return [r["id"] for r in rows]
