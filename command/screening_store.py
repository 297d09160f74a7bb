"""Screening cases in PostgreSQL (sql/0016_screening_review.sql): the review queue of gate hits
and registrant candidates, their decisions, and earlier cases of an entry.

Raises the command package's own errors (Conflict, NotFound); no aiohttp here.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from command import photo_seal, store
from command.errors import Conflict, NotFound
from eventguard.wire import WatchlistHitReport
from vision.capture import check_capture
from vision.errors import ImageError

log = logging.getLogger(__name__)

CASE_COLUMNS = (
    "c.id, c.source, c.hit_id, c.registration_id, c.entry_id, c.list_id, w.name AS list_name, e.label,"
    " c.severity, c.basis, c.distance, c.threshold, c.gate_id, c.found_at, c.status, c.decided_by, c.decided_role,"
    " c.decided_at, c.reason, c.decision_s, c.incident_id, c.order_ids, h.event_id, h.ticket_id,"
    " r.name AS registrant, COALESCE(h.capture IS NOT NULL, r.photo_sealed IS NOT NULL) AS has_capture,"
    " e.photo_sealed IS NOT NULL AS has_watch_photo")
_FROM = (" FROM screening_cases c LEFT JOIN watchlist_hits h ON h.id = c.hit_id"
         " LEFT JOIN registrations r ON r.registration_id = c.registration_id"
         " LEFT JOIN watchlist_entries e ON e.id = c.entry_id LEFT JOIN watchlists w ON w.id = c.list_id")


def _case(r: asyncpg.Record) -> dict[str, Any]:
    d = dict(r)
    for k in ("found_at", "decided_at"):
        d[k] = d[k].timestamp() if d[k] is not None else None
    d["order_ids"] = list(d["order_ids"])
    return d


async def entry_model(conn: asyncpg.Connection, entry_id: str) -> str | None:
    """The face model of a watchlist entry's embedding (sql/0009); None for an unknown entry."""
    model: str | None = await conn.fetchval("SELECT model_id FROM watchlist_entries WHERE id = $1", entry_id)
    return model


async def store_gate_hit(conn: asyncpg.Connection, gate_id: str, report: WatchlistHitReport,
                         capture_sealed: bytes | None) -> int | None:
    """Keep a gate's hit once per (event, entry) with its sealed capture, and open its case;
    the hit's id, or None for a replay (call inside the hit's transaction)."""
    hit_id: int | None = await conn.fetchval(
        "INSERT INTO watchlist_hits (event_id, gate_id, at, list_id, entry_id, severity, distance, ticket_id,"
        " threshold, capture, model_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (event_id, entry_id) DO NOTHING RETURNING id",
        report.event_id, gate_id, store.ts(report.at), report.list_id, report.entry_id, report.severity,
        report.distance, report.ticket_id, report.threshold, capture_sealed, report.model_id)
    if hit_id is None:
        return None
    await conn.execute(
        "INSERT INTO screening_cases (source, hit_id, entry_id, list_id, severity, distance, threshold, gate_id,"
        " found_at) VALUES ('gate', $1, $2, $3, $4, $5, $6, $7, $8)",
        hit_id, report.entry_id, report.list_id, report.severity, report.distance, report.threshold, gate_id,
        store.ts(report.at))
    return hit_id


async def cases(conn: asyncpg.Connection, *, status: str | None = "open", limit: int = 200) -> list[dict[str, Any]]:
    """Cases, oldest open first (status None: every case, newest first)."""
    order = "c.found_at, c.id" if status == "open" else "c.found_at DESC, c.id DESC"
    rows = await conn.fetch(f"SELECT {CASE_COLUMNS}{_FROM} WHERE ($1::text IS NULL OR c.status = $1)"
                            f" ORDER BY {order} LIMIT $2", status, limit)
    return [_case(r) for r in rows]


async def case(conn: asyncpg.Connection, case_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One case; NotFound if there is none."""
    r = await conn.fetchrow(f"SELECT {CASE_COLUMNS}{_FROM} WHERE c.id = $1" + (" FOR UPDATE OF c" if lock else ""),
                            case_id)
    if r is None:
        raise NotFound(f"no screening case {case_id}")
    return _case(r)


async def earlier(conn: asyncpg.Connection, entry_id: str, before_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Other cases of the same watchlist entry, newest first."""
    rows = await conn.fetch(f"SELECT {CASE_COLUMNS}{_FROM} WHERE c.entry_id = $1 AND c.id <> $2"
                            " ORDER BY c.found_at DESC, c.id DESC LIMIT $3", entry_id, before_id, limit)
    return [_case(r) for r in rows]


async def capture(conn: asyncpg.Connection, case_id: int) -> tuple[bytes, str] | None:
    """(sealed picture, its owner) of a case: a gate's live capture, or the registration photo
    of a registrant candidate; None when there is none."""
    r = await conn.fetchrow(
        "SELECT h.capture, h.event_id, h.entry_id, reg.photo_sealed, reg.registration_id FROM screening_cases c"
        " LEFT JOIN watchlist_hits h ON h.id = c.hit_id"
        " LEFT JOIN registrations reg ON reg.registration_id = c.registration_id WHERE c.id = $1", case_id)
    if r is None:
        return None
    if r["capture"] is not None:
        return r["capture"], capture_owner(r["event_id"], r["entry_id"])
    if r["photo_sealed"] is not None:
        return r["photo_sealed"], photo_seal.registration_owner(r["registration_id"])
    return None


async def open_cases_of_event(conn: asyncpg.Connection, event_id: str) -> int:
    """Open cases of the hits of one gate event (a scan may hit several entries)."""
    n: int = await conn.fetchval("SELECT count(*) FROM screening_cases c JOIN watchlist_hits h ON h.id = c.hit_id"
                                 " WHERE h.event_id = $1 AND c.status = 'open'", event_id)
    return n


def capture_owner(event_id: str, entry_id: str) -> str:
    """The row a capture is sealed for (command/photo_seal.py binds it)."""
    return f"watchlist_hit:{event_id}:{entry_id}"


async def decide(conn: asyncpg.Connection, case_id: int, *, status: str, by: str, role: str, reason: str,
                 decided_at: float, decision_s: float, incident_id: int | None = None,
                 order_ids: tuple[int, ...] = ()) -> dict[str, Any]:
    """Close an open case (confirmed or dismissed); Conflict when it was decided already."""
    done = await conn.fetchval(
        "UPDATE screening_cases SET status = $2, decided_by = $3, decided_role = $4, reason = $5,"
        " decided_at = $6, decision_s = $7, incident_id = $8, order_ids = $9"
        " WHERE id = $1 AND status = 'open' RETURNING id",
        case_id, status, by, role, reason, store.ts(decided_at), decision_s, incident_id, list(order_ids))
    if done is None:
        current = await conn.fetchval("SELECT status FROM screening_cases WHERE id = $1", case_id)
        if current is None:
            raise NotFound(f"no screening case {case_id}")
        raise Conflict(f"screening case {case_id} is {current} already")
    return await case(conn, case_id)


def seal_capture(key_file: photo_seal.KeyFile, report: WatchlistHitReport) -> bytes | None:
    """The report's capture checked (a small JPEG, vision/capture.py) and sealed for its hit row;
    None when there is none or it is refused — the hit is stored without it, never lost for a
    bad picture. Blocking (key file, AES): call it from a thread."""
    if report.capture is None:
        return None
    try:
        check_capture(report.capture)
    except ImageError as err:
        log.warning("capture of hit %s/%s from %s dropped: %s", report.event_id, report.entry_id,
                    report.gate_id, err)
        return None
    return photo_seal.seal(key_file.get(), report.capture, capture_owner(report.event_id, report.entry_id))
