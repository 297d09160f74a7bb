"""Registrant pre-screening: every registration's face (and ID-number hash where an entry has
one) against every active watchlist, at import and whenever a list changes.

A candidate opens a screening case (the same queue as gate hits, command/screening_store.py)
and holds its registration (`registrations.screening_hold`, sql/0016): no ticket is issued,
and its face is withheld from the gates' list sync, so a ticket issued earlier goes to a
steward. A reviewer's Dismiss releases it once none of its cases is open or confirmed.

The 1:N search (vision/screen.py over the gate's own index) runs in a thread, never on the
event loop. Registrations and entries of another model than the engine's are not compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from command import face_seal, store, watchlist_store
from vision.engine import EngineSpec
from vision.index import WatchHit, WatchlistIndex
from vision.screen import search


@dataclass(frozen=True, slots=True)
class Candidate:
    """A registration that may be a watchlist entry."""

    registration_id: str
    entry_id: str
    list_id: str
    severity: str
    distance: float
    basis: str = "face"  # or "id_number": the entry's ID-number hash equals the registration's


@dataclass(frozen=True, slots=True)
class Run:
    """What one pre-screening run compared and found."""

    registrations: int
    entries: int
    candidates: tuple[Candidate, ...]  # every candidate found (new cases: `opened`)
    opened: int


def face_candidates(index: WatchlistIndex, spec: EngineSpec, ids: Sequence[str], embeddings: npt.NDArray[np.float64],
                    threshold: float, top_k: int = 3) -> list[Candidate]:
    """Every (registration, entry) within the screen threshold (blocking: call it in a thread)."""
    out: list[Candidate] = []
    if len(index) == 0:
        return out
    for rid, vec in zip(ids, embeddings, strict=True):
        hits: list[WatchHit] = search(index, spec, vec, threshold=threshold, top_k=top_k)
        out += [Candidate(rid, h.entry_id, h.list_id, str(h.severity), h.distance) for h in hits]
    return out


def _faces(rows: Sequence[Any], face_key: bytes | None) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Registration ids and their opened embeddings (blocking: AES-GCM per row)."""
    faces = [(r["registration_id"], face_seal.registration_face(face_key, r)) for r in rows]
    kept = [(rid, v) for rid, v in faces if v is not None]
    if not kept:
        return [], np.zeros((0, 0))
    return [rid for rid, _ in kept], np.array([v for _, v in kept], dtype=np.float64)


async def _id_candidates(conn: asyncpg.Connection, event_id: str, ids: Sequence[str] | None) -> list[Candidate]:
    rows = await conn.fetch(
        "SELECT r.registration_id, e.id, e.list_id, w.severity FROM registrations r"
        " JOIN watchlist_entries e ON e.id_hash = r.id_hmac JOIN watchlists w ON w.id = e.list_id"
        " WHERE r.event_id = $1 AND r.removed_at IS NULL AND e.removed_at IS NULL AND w.active"
        " AND ($2::text[] IS NULL OR r.registration_id = ANY($2::text[]))", event_id, list(ids) if ids is not None else None)
    return [Candidate(r["registration_id"], r["id"], r["list_id"], r["severity"], 0.0, "id_number") for r in rows]


async def prescreen(conn: asyncpg.Connection, event_id: str, spec: EngineSpec, *, cause: str, actor: str,
                    role: str = "tool", registration_ids: Sequence[str] | None = None, threshold: float | None = None,
                    executor: Executor | None = None, face_key: bytes | None = None) -> Run:
    """Screen the event's registrations (all, or `registration_ids`) against every active list;
    open a case per new candidate and hold its registration; record the run and audit it.
    Sealed embeddings (command/face_seal.py) are opened with `face_key`, in the thread."""
    th = spec.thresholds.screen if threshold is None else threshold
    index = await watchlist_store.load_index(conn, spec, face_key)
    rows = await conn.fetch(
        "SELECT registration_id, model_id, encoding, encoding_sealed FROM registrations WHERE event_id = $1"
        " AND model_id = $2 AND removed_at IS NULL AND ($3::text[] IS NULL OR registration_id = ANY($3::text[]))"
        " ORDER BY registration_id", event_id, spec.model_id,
        list(registration_ids) if registration_ids is not None else None)
    loop = asyncio.get_running_loop()
    ids, mat = await loop.run_in_executor(executor, _faces, rows, face_key)
    found = await loop.run_in_executor(executor, face_candidates, index, spec, ids, mat, th) if ids else []
    found += await _id_candidates(conn, event_id, registration_ids)
    async with conn.transaction():
        opened = 0
        for c in found:
            got = await conn.fetchval(
                "INSERT INTO screening_cases (source, registration_id, entry_id, list_id, severity, basis, distance,"
                " threshold, found_at) VALUES ('registration', $1, $2, $3, $4, $5, $6, $7, clock_timestamp())"
                " ON CONFLICT (registration_id, entry_id) DO NOTHING RETURNING id",
                c.registration_id, c.entry_id, c.list_id, c.severity, c.basis, c.distance,
                th if c.basis == "face" else None)
            opened += got is not None
        held = await hold_if_flagged(conn, sorted({c.registration_id for c in found}))
        await conn.execute(
            "INSERT INTO screening_runs (event_id, cause, actor, model_id, registrations, entries, candidates)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)", event_id, cause, actor, spec.model_id, len(ids), len(index), opened)
        await store.audit(conn, actor, role, "prescreen", event_id,
                          {"cause": cause, "registrations": len(ids), "entries": len(index), "candidates": len(found),
                           "opened": opened, "held": held})
    return Run(len(ids), len(index), tuple(found), opened)


async def hold_if_flagged(conn: asyncpg.Connection, registration_ids: Sequence[str]) -> int:
    """Hold (or keep holding) the registrations with an open or confirmed case; release the
    others among `registration_ids`; the number held."""
    if not registration_ids:
        return 0
    rows = await conn.fetch(
        "UPDATE registrations r SET screening_hold = EXISTS (SELECT 1 FROM screening_cases c"
        " WHERE c.registration_id = r.registration_id AND c.status IN ('open', 'confirmed'))"
        " WHERE r.registration_id = ANY($1::text[]) RETURNING screening_hold", list(registration_ids))
    return sum(1 for r in rows if r["screening_hold"])


async def held(conn: asyncpg.Connection, registration_ids: Sequence[str]) -> set[str]:
    """Those of `registration_ids` held for screening review."""
    rows = await conn.fetch("SELECT registration_id FROM registrations WHERE registration_id = ANY($1::text[])"
                            " AND screening_hold", list(registration_ids))
    return {r["registration_id"] for r in rows}


async def report(conn: asyncpg.Connection, event_id: str) -> dict[str, Any]:
    """Registrants, screened (registered before the last run), candidates, decided, pending,
    held; gate cases alongside."""
    row = await conn.fetchrow(
        "WITH last AS (SELECT max(at) AS at FROM screening_runs WHERE event_id = $1),"
        " regs AS (SELECT * FROM registrations WHERE event_id = $1 AND removed_at IS NULL),"
        " cases AS (SELECT c.* FROM screening_cases c JOIN registrations r USING (registration_id)"
        "           WHERE r.event_id = $1)"
        " SELECT (SELECT count(*) FROM regs) AS registrants,"
        "  (SELECT count(*) FROM regs, last WHERE regs.created_at <= last.at) AS screened,"
        "  (SELECT count(*) FROM regs WHERE screening_hold) AS held,"
        "  (SELECT count(DISTINCT registration_id) FROM cases) AS candidates,"
        "  (SELECT count(*) FROM cases) AS cases,"
        "  (SELECT count(*) FROM cases WHERE status = 'confirmed') AS confirmed,"
        "  (SELECT count(*) FROM cases WHERE status = 'dismissed') AS dismissed,"
        "  (SELECT count(*) FROM cases WHERE status = 'open') AS pending,"
        "  (SELECT count(*) FROM screening_runs WHERE event_id = $1) AS runs,"
        "  (SELECT at FROM last) AS last_run,"
        "  (SELECT count(*) FROM screening_cases WHERE source = 'gate') AS gate_cases,"
        "  (SELECT count(*) FROM screening_cases WHERE source = 'gate' AND status = 'open') AS gate_pending",
        event_id)
    d = dict(row)
    d["decided"] = d["confirmed"] + d["dismissed"]
    d["last_run"] = d["last_run"].timestamp() if d["last_run"] is not None else None
    d["event_id"] = event_id
    return d
