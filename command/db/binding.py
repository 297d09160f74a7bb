"""A database belongs to one event (sql/0010): bind it on first use, refuse it for another."""

from __future__ import annotations

import re

import asyncpg

from eventguard.errors import ConfigError

_NAME = re.compile(r"[^a-z0-9_]+")


def database_name(event_id: str) -> str:
    """The embedded server's database for an event: eg_<event id folded to [a-z0-9_]>."""
    slug = _NAME.sub("_", event_id.lower()).strip("_")[:50]
    if not slug:
        raise ConfigError(f"event id {event_id!r} has no letters or digits to name its database after")
    return f"eg_{slug}"


async def bind_event(conn: asyncpg.Connection, event_id: str) -> None:
    """Bind the (migrated) database to `event_id`, or check it is bound to it already."""
    bound: str | None = await conn.fetchval(
        "INSERT INTO event_binding (event_id) VALUES ($1) ON CONFLICT (only_row) DO UPDATE"
        " SET event_id = event_binding.event_id RETURNING event_id", event_id)
    if bound != event_id:
        raise ConfigError(f"this database holds event {bound!r}, not {event_id!r}: every event has its own "
                          "database (the embedded server picks it from the venue; with --database-url, "
                          "give the event's own database)")


async def bound_event(conn: asyncpg.Connection) -> str | None:
    """The event the database is bound to (None: not yet)."""
    event: str | None = await conn.fetchval("SELECT event_id FROM event_binding")
    return event
