"""Watchlist governance: removing an entry (by a person, or at its expiry) erases its
biometrics, closes its open cases and releases the registrants it alone held.

An entry carries who answers for it, its legal basis and its expiry (sql/0016). A removed
entry keeps its row — the cases and the audit log refer to it — but its embedding and its
sealed photo are gone, and the gates drop it on their next sync (the removal bumps its
version). Raises the command package's own errors; no aiohttp here.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from command import prescreen, store
from command.errors import Conflict, NotFound


async def remove_entry(conn: asyncpg.Connection, entry_id: str, *, by: str, role: str, reason: str) -> dict[str, Any]:
    """Remove one current entry (see the module docstring); audited. NotFound if unknown,
    Conflict if removed already."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE watchlist_entries SET removed_at = now(), removed_by = $2, removal_reason = $3,"
            " encoding = NULL, encoding_sealed = NULL, photo_sealed = NULL WHERE id = $1 AND removed_at IS NULL"
            " RETURNING id, list_id, label, removed_at", entry_id, by, reason)
        if row is None:
            if await conn.fetchval("SELECT 1 FROM watchlist_entries WHERE id = $1", entry_id) is None:
                raise NotFound(f"no watchlist entry {entry_id}")
            raise Conflict(f"watchlist entry {entry_id} is removed already")
        closed = await conn.fetch(
            "UPDATE screening_cases SET status = 'dismissed', decided_by = $2, decided_role = $3, reason = $4,"
            " decided_at = clock_timestamp(), decision_s = greatest(0, extract(epoch FROM clock_timestamp() - found_at))"
            " WHERE entry_id = $1 AND status = 'open' RETURNING id, registration_id",
            entry_id, by, role, f"watchlist entry removed: {reason}")
        regs = sorted({r["registration_id"] for r in closed if r["registration_id"]})
        still_held = await prescreen.hold_if_flagged(conn, regs)
        await store.audit(conn, by, role, "watchlist_entry_remove", entry_id,
                          {"list": row["list_id"], "reason": reason, "cases_closed": [r["id"] for r in closed],
                           "released": len(regs) - still_held})
    return {"id": row["id"], "list_id": row["list_id"], "label": row["label"],
            "removed_at": row["removed_at"].timestamp(), "cases_closed": len(closed),
            "released": len(regs) - still_held}


async def expire_entries(conn: asyncpg.Connection) -> list[str]:
    """Remove every current entry past its expiry (by "expiry"); their ids."""
    ids = [r["id"] for r in await conn.fetch(
        "SELECT id FROM watchlist_entries WHERE removed_at IS NULL AND expires_at <= now() ORDER BY id")]
    done = []
    for entry_id in ids:
        try:
            await remove_entry(conn, entry_id, by="expiry", role="system", reason="expired")
        except Conflict:  # removed meanwhile by someone
            continue
        done.append(entry_id)
    return done
