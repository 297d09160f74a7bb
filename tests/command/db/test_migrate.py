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


async def test_orders_stored_before_the_caps_are_cut_cancelled_and_audited(pg: object, tmp_path: object) -> None:
    """The probe's 5 MiB order params, stored before the REST caps, were resent to the gate on
    every connect and kept it in a reconnect loop. Migration 0018 cuts such rows to the caps,
    cancels the pending ones with an audit row, and the table refuses them from then on."""
    import shutil
    from pathlib import Path

    from command.db.embedded import EmbeddedPostgres
    from command.db.migrate import SQL_DIR

    assert isinstance(pg, EmbeddedPostgres) and isinstance(tmp_path, Path)
    before = tmp_path / "sql"
    before.mkdir()
    for v, name, _ in migrations():
        if v < 18:
            shutil.copy(SQL_DIR / name, before / name)
    admin = await asyncpg.connect(pg.dsn("postgres"))
    await admin.execute('CREATE DATABASE "t_order_caps"')
    await admin.close()
    try:
        conn = await asyncpg.connect(pg.dsn("t_order_caps"))
        try:
            await migrate(conn, before)
            huge = '{"x": "' + "A" * (5 << 20) + '"}'
            pending = await conn.fetchval("INSERT INTO orders (kind, target, params, issued_by)"
                                          " VALUES ('close_lane', 'N1', $1::jsonb, 'c') RETURNING id", huge)
            done = await conn.fetchval("INSERT INTO orders (kind, target, note, status, issued_by)"
                                       " VALUES ('open_lane', 'N1', $1, 'acknowledged', 'c') RETURNING id", "n" * 5000)
            fine = await conn.fetchval("INSERT INTO orders (kind, target, params, issued_by)"
                                       " VALUES ('close_lane', 'N2', '{\"lane\": 2}', 'c') RETURNING id")
            assert await migrate(conn) == [n for v, n, _ in migrations() if v >= 18]
            rows = {r["id"]: r for r in await conn.fetch("SELECT id, status, params::text AS p, length(note) AS n"
                                                        " FROM orders")}
            assert (rows[pending]["status"], rows[pending]["p"]) == ("cancelled", "{}")
            assert (rows[done]["status"], rows[done]["n"]) == ("acknowledged", 1000)
            assert (rows[fine]["status"], rows[fine]["p"]) == ("sent", '{"lane": 2}')
            audited = {r["subject"]: r["details"] for r in await conn.fetch(
                "SELECT subject, details::text AS details FROM audit_log WHERE action = 'order_capped'")}
            assert set(audited) == {str(pending), str(done)}
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute("INSERT INTO orders (kind, target, params, issued_by)"
                                   " VALUES ('close_lane', 'N1', $1::jsonb, 'c')", huge)
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(pg.dsn("postgres"))
        await admin.execute('DROP DATABASE "t_order_caps" WITH (FORCE)')
        await admin.close()
