"""Apply the ordered SQL migrations in sql/ (NNNN_name.sql), each once, in a transaction."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x45475244  # advisory lock: two processes migrating at once take turns


def migrations(sql_dir: Path = SQL_DIR) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration, in order."""
    out: list[tuple[int, str, str]] = []
    for p in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), p.name, p.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {sql_dir}")
    return out


async def migrate(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:  # no DDL when
            await conn.execute(  # up to date: a role without CREATE (the app role) may check
                "CREATE TABLE schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations(sql_dir):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                   version, name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied
