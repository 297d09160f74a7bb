"""Watchlists in PostgreSQL: lists, entries, hit reports and the index gates screen against.

Raises the command package's own errors (Conflict, NotFound); no aiohttp here.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from command import face_seal, photo_seal, store
from command.errors import Conflict, NotFound
from eventguard.codes import WatchSeverity
from eventguard.wire import WatchlistHitReport
from vision.engine import EngineSpec
from vision.index import WatchlistIndex
from vision.screen import index_vector


async def create_list(conn: asyncpg.Connection, name: str, severity: WatchSeverity, by: str) -> dict[str, Any]:
    """A new active watchlist."""
    row = await conn.fetchrow(
        "INSERT INTO watchlists (id, name, severity, created_by) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name) DO NOTHING RETURNING id, name, severity, active",
        uuid.uuid4().hex, name, severity.value, by)
    if row is None:
        raise Conflict(f"a watchlist named {name!r} exists")
    return dict(row)


async def lists(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every watchlist with its number of current entries."""
    rows = await conn.fetch(
        "SELECT w.id, w.name, w.severity, w.active, count(e.id) FILTER (WHERE e.removed_at IS NULL) AS entries "
        "FROM watchlists w LEFT JOIN watchlist_entries e ON e.list_id = w.id GROUP BY w.id ORDER BY w.name")
    return [dict(r) for r in rows]


async def add_entry(conn: asyncpg.Connection, list_id: str, label: str, encoding: np.ndarray, by: str,
                    id_hash: bytes | None = None, *, model_id: str, photo_sealed: bytes | None = None,
                    entry_id: str | None = None, owner: str | None = None, legal_basis: str | None = None,
                    expires_at: datetime | None = None, face_key: bytes) -> str:
    """Store one entry's embedding (made by `model_id`, sealed under `face_key`: command/face_seal.py)
    and its sealed photo, with who answers for it, on what legal basis and until when; its id."""
    enc = np.asarray(encoding, dtype="<f8").reshape(-1)
    if not 1 <= enc.size <= 2048 or not np.all(np.isfinite(enc)):
        raise ValueError("encoding must be 1 to 2,048 finite numbers")
    entry_id = entry_id or uuid.uuid4().hex
    try:
        await conn.execute(
            "INSERT INTO watchlist_entries (id, list_id, label, id_hash, encoding_sealed, added_by, model_id,"
            " photo_sealed, owner, legal_basis, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            entry_id, list_id, label, id_hash, face_seal.seal(face_key, enc, photo_seal.watch_owner(entry_id), model_id),
            by, model_id, photo_sealed, owner, legal_basis, expires_at)
    except asyncpg.ForeignKeyViolationError as err:
        raise NotFound(f"no watchlist {list_id}") from err
    return entry_id


async def entries(conn: asyncpg.Connection, list_id: str, *, with_encodings: bool = False,
                  face_key: bytes | None = None) -> list[dict[str, Any]]:
    """Current entries of a list (encodings as lists of floats only when asked, opened with `face_key`)."""
    rows = await conn.fetch(
        "SELECT id, label, id_hash IS NOT NULL AS has_id, added_by, added_at, model_id, encoding, encoding_sealed,"
        " owner,"
        " legal_basis, expires_at "
        "FROM watchlist_entries WHERE list_id = $1 AND removed_at IS NULL ORDER BY added_at, id", list_id)
    vecs = await asyncio.to_thread(lambda: [face_seal.watch_face(face_key, r) for r in rows]) if with_encodings else []
    out = []
    for i, r in enumerate(rows):
        d: dict[str, Any] = {"id": r["id"], "label": r["label"], "has_id": r["has_id"], "added_by": r["added_by"],
                             "added_at": r["added_at"].timestamp(), "model_id": r["model_id"],
                             "owner": r["owner"], "legal_basis": r["legal_basis"],
                             "expires_at": r["expires_at"].timestamp() if r["expires_at"] else None}
        if with_encodings:
            vec = vecs[i]
            d["encoding"] = vec.tolist() if vec is not None else None
        out.append(d)
    return out


async def entry_list(conn: asyncpg.Connection, entry_id: str) -> tuple[str, WatchSeverity] | None:
    """(list id, list severity) of a watchlist entry as the server has it; None if unknown."""
    row = await conn.fetchrow("SELECT e.list_id, w.severity FROM watchlist_entries e"
                              " JOIN watchlists w ON w.id = e.list_id WHERE e.id = $1", entry_id)
    return (row["list_id"], WatchSeverity(row["severity"])) if row else None


async def store_hit(conn: asyncpg.Connection, gate_id: str, report: WatchlistHitReport) -> bool:
    """Keep a gate's hit report once per (event, entry); False if it was a replay."""
    status: str = await conn.execute(
        "INSERT INTO watchlist_hits (event_id, gate_id, at, list_id, entry_id, severity, distance, ticket_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, entry_id) DO NOTHING",
        report.event_id, gate_id, store.ts(report.at), report.list_id, report.entry_id, report.severity,
        report.distance, report.ticket_id)
    return status.endswith(" 1")


async def hits(conn: asyncpg.Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Newest hits first, with the entry's label."""
    rows = await conn.fetch(
        "SELECT h.id, h.event_id, h.gate_id, h.at, h.list_id, h.entry_id, e.label, h.severity, h.distance, "
        "h.ticket_id FROM watchlist_hits h LEFT JOIN watchlist_entries e ON e.id = h.entry_id "
        "ORDER BY h.at DESC, h.id DESC LIMIT $1", limit)
    return [{**dict(r), "at": r["at"].timestamp()} for r in rows]


async def load_index(conn: asyncpg.Connection, engine: EngineSpec, face_key: bytes | None) -> WatchlistIndex:
    """Every current entry of every active list made by the engine's model, as a gate-side index
    (vectors as vision.screen.index_vector, opened with `face_key`; version = newest change)."""
    rows = await conn.fetch(
        "SELECT e.id, e.list_id, w.severity, e.model_id, e.encoding, e.encoding_sealed,"
        " greatest(e.sync_version, w.sync_version) AS v "
        "FROM watchlist_entries e JOIN watchlists w ON w.id = e.list_id "
        "WHERE e.removed_at IS NULL AND w.active AND e.model_id = $1"
        " AND (e.expires_at IS NULL OR e.expires_at > now()) ORDER BY e.id", engine.model_id)
    if not rows:
        return WatchlistIndex()
    vecs = await asyncio.to_thread(lambda: [face_seal.watch_face(face_key, r) for r in rows])
    mat = np.stack([index_vector(engine, v) for v in vecs if v is not None])
    return WatchlistIndex.from_arrays([r["id"] for r in rows], [r["list_id"] for r in rows],
                                      [r["severity"] for r in rows], mat, version=max(r["v"] for r in rows))
