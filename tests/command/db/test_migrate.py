"""Migrations on a real server: versioned, idempotent, concurrent-safe; audit log append-only."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from command.db.migrate import migrate, migrations


async def test_migrate_is_idempotent_and_versioned(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        assert await migrate(conn) == []  # the fixture already migrated
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [v for v, _, _ in migrations()]
    finally:
        await conn.close()


async def test_concurrent_migrations_take_turns(pg: object) -> None:
    from command.db.embedded import EmbeddedPostgres

    assert isinstance(pg, EmbeddedPostgres)
    admin = await asyncpg.connect(pg.dsn("postgres"))
    await admin.execute('CREATE DATABASE "t_concurrent"')
    await admin.close()
    try:
        conns = [await asyncpg.connect(pg.dsn("t_concurrent")) for _ in range(3)]
        results = await asyncio.gather(*(migrate(c) for c in conns))
        for c in conns:
            await c.close()
        applied = [name for r in results for name in r]
        assert sorted(applied) == sorted(n for _, n, _ in migrations())  # each applied exactly once
    finally:
        admin = await asyncpg.connect(pg.dsn("postgres"))
        await admin.execute('DROP DATABASE "t_concurrent" WITH (FORCE)')
        await admin.close()


async def test_audit_log_is_append_only(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO audit_log (actor, role, action) VALUES ('a', 'commander', 'login')")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE audit_log SET actor = 'b'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM audit_log")
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
