"""Camera reports in PostgreSQL: stored once each; line transfers move the zone counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from command.store import ts
from eventguard.wire import CameraReport


@dataclass(frozen=True, slots=True)
class StoredReports:
    """The reports that were new (the rest were stored before: a replay from the journal)."""

    new: tuple[CameraReport, ...]
    duplicates: int


async def store_reports(conn: asyncpg.Connection, reports: Sequence[CameraReport]) -> StoredReports:
    """Store reports idempotently, in one transaction with their zone counter moves."""
    new: list[CameraReport] = []
    async with conn.transaction():
        for r in reports:
            inserted = await conn.fetchval(
                "INSERT INTO camera_reports (report_id, camera_id, at, interval_s) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (report_id) DO NOTHING RETURNING report_id",
                r.report_id, r.camera_id, ts(r.at), r.interval_s)
            if inserted is None:
                continue
            new.append(r)
            if r.zones:
                await conn.executemany(
                    "INSERT INTO camera_estimates (report_id, zone_id, people, density, area_m2)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    [(r.report_id, z.zone_id, z.count, z.density, z.area_m2) for z in r.zones])
            if r.transfers:
                await conn.executemany(
                    "INSERT INTO line_transfers (report_id, line_id, zone_from, zone_to, people)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    [(r.report_id, t.line_id, t.zone_from, t.zone_to, t.count) for t in r.transfers])
                for t in r.transfers:
                    await conn.execute("UPDATE zone_counters SET transfers_out = transfers_out + $2"
                                       " WHERE zone_id = $1", t.zone_from, t.count)
                    await conn.execute("UPDATE zone_counters SET transfers_in = transfers_in + $2"
                                       " WHERE zone_id = $1", t.zone_to, t.count)
    return StoredReports(tuple(new), len(reports) - len(new))


async def transfers_of(conn: asyncpg.Connection, camera_id: str) -> list[tuple[str, str, str, int]]:
    """(line, from, to, people) summed over every stored report of a camera."""
    rows = await conn.fetch(
        "SELECT t.line_id, t.zone_from, t.zone_to, sum(t.people)::int AS people FROM line_transfers t"
        " JOIN camera_reports r USING (report_id) WHERE r.camera_id = $1"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2", camera_id)
    return [(r["line_id"], r["zone_from"], r["zone_to"], r["people"]) for r in rows]
