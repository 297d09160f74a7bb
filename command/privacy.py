"""`eventguard privacy purge`: after an event, erase the biometric data its database holds.

Registrations lose their face embedding and sealed photo (and are withdrawn, so gates drop
them on their next sync), watchlist entries likewise, and the live captures kept with
screening hits are deleted. What the record needs stays: the rows, the cases and their
decisions, the audit log — plus one audit row for the purge itself. Before the event's end
the purge is refused unless forced (an event cancelled), and a forced purge says so.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from command import store
from command.errors import Conflict


async def purge(conn: asyncpg.Connection, event_id: str, *, actor: str, now: float, ends_at: float | None,
                force: bool = False) -> dict[str, Any]:
    """Erase the event's biometrics (see the module docstring); the counts erased."""
    if not force and (ends_at is None or now < ends_at):
        raise Conflict(f"event {event_id} has not ended (ends_at {'unset' if ends_at is None else ends_at});"
                       " purge after it, or force it")
    async with conn.transaction():
        registrations = len(await conn.fetch(
            "UPDATE registrations SET encoding = NULL, encoding_sealed = NULL, photo_sealed = NULL,"
            " removed_at = coalesce(removed_at, now()) WHERE event_id = $1"
            " AND (encoding IS NOT NULL OR encoding_sealed IS NOT NULL OR photo_sealed IS NOT NULL) RETURNING 1", event_id))
        entries = len(await conn.fetch(
            "UPDATE watchlist_entries SET encoding = NULL, encoding_sealed = NULL, photo_sealed = NULL,"
            " removed_at = coalesce(removed_at, now()),"
            " removed_by = coalesce(removed_by, $1), removal_reason = coalesce(removal_reason, 'privacy purge')"
            " WHERE encoding IS NOT NULL OR encoding_sealed IS NOT NULL OR photo_sealed IS NOT NULL RETURNING 1", actor))
        captures = len(await conn.fetch("UPDATE watchlist_hits SET capture = NULL WHERE capture IS NOT NULL RETURNING 1"))
        out = {"event_id": event_id, "registrations": registrations, "watchlist_entries": entries,
               "captures": captures, "forced": bool(force and (ends_at is None or now < ends_at))}
        await store.audit(conn, actor, "tool", "privacy_purge", event_id, out)
    return out
