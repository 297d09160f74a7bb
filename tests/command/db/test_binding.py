"""A database holds one event: bound on first use, refused for another (sql/0010)."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest

from command import server
from command.db.binding import bind_event, bound_event, database_name
from command.db.embedded import free_port
from eventguard.config import EventInfo, Venue
from eventguard.errors import ConfigError
from eventguard.settings import ServerSettings


@pytest.mark.parametrize(("event_id", "name"), [
    ("demo-2026", "eg_demo_2026"), ("Arena 06/12", "eg_arena_06_12"), ("世界杯-2026", "eg_2026")])
def test_database_names(event_id: str, name: str) -> None:
    assert database_name(event_id) == name


def test_an_event_id_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(ConfigError, match="no letters or digits"):
        database_name("---")


async def test_bind_once_then_refuse_another_event(conn: asyncpg.Connection) -> None:
    assert await bound_event(conn) is None
    await bind_event(conn, "demo-2026")
    await bind_event(conn, "demo-2026")  # the same event again is fine
    with pytest.raises(ConfigError, match="holds event 'demo-2026', not 'other'"):
        await bind_event(conn, "other")
    assert await bound_event(conn) == "demo-2026"


async def test_the_server_refuses_a_database_of_another_event(db_url: str, venue: Venue) -> None:
    runner = await server.start(ServerSettings(port=free_port(), database_url=db_url), venue)
    await runner.cleanup()
    other = dataclasses.replace(venue, event=EventInfo(id="arena-0612", name="Arena"))
    with pytest.raises(ConfigError, match="holds event 'demo-2026', not 'arena-0612'"):
        await server.start(ServerSettings(port=free_port(), database_url=db_url), other)
