"""Re-enrol faces after a change of model: registrations and watchlist entries from their photos.

Embeddings of different models are never compared, so a venue that switches engine (dlib to
SFace, or a newer SFace) must re-make every stored embedding with the new model. The photos
they came from are kept sealed (command/photo_seal.py); `reenrol` opens each, runs the new
engine on it in the face workers, and stores the new embedding with its model id, batch by
batch (each batch one transaction). The change renumbers the row (sql/0009), so gates receive
the new face by the ordinary list sync.

Resumable and idempotent: only rows whose model differs from the target are visited, in id
order, so a rerun continues where an interrupted one stopped and a finished one finds
nothing to do. A row that cannot be re-enrolled keeps its old embedding and model (gates of
the new model ignore it: the holder goes to a steward) and is reported with the reason:
no photo kept (enrolled before photos were), a photo that does not open, or no usable face
for the new model. Registrations are per event; watchlists are venue-wide, so every
watchlist entry is visited too (`watchlists=False` skips them).

The enrolment quality bar is not applied again: the photo was accepted once, and refusing
it now would leave the person with no face at all.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from command import face_seal, photo_seal
from command.errors import PhotoSealError
from vision.faceworker import EngineOptions, Enrolment, enrol, face_executor

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class KindSummary:
    """What happened to one kind of row (registrations or watchlist entries)."""

    total: int = 0  # rows on another model when the run started
    reenrolled: int = 0
    no_photo: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # id, code, detail

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reenrolled": self.reenrolled, "no_photo": self.no_photo,
                "failed": len(self.failed), "failures": self.failed[:100]}


@dataclass
class ReenrolSummary:
    """The outcome of a run."""

    model_id: str
    registrations: KindSummary = field(default_factory=KindSummary)
    watchlist: KindSummary = field(default_factory=KindSummary)

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "registrations": self.registrations.as_dict(),
                "watchlist": self.watchlist.as_dict()}


def _embed(data: bytes, opts: EngineOptions) -> Enrolment:
    """Runs in a face worker: the photo's one face with the new engine (no quality bar)."""
    return enrol(data, opts, bar=None)


@dataclass(frozen=True)
class _Table:
    kind: str
    select: str
    count: str
    no_photo: str
    update: str
    owner: Callable[[str], str]


_REGISTRATIONS = _Table(
    "registrations",
    "SELECT registration_id AS id, photo_sealed FROM registrations WHERE event_id = $1"
    " AND removed_at IS NULL AND model_id <> $2 AND photo_sealed IS NOT NULL AND registration_id > $3"
    " ORDER BY registration_id LIMIT $4",
    "SELECT count(*) FROM registrations WHERE event_id = $1 AND removed_at IS NULL AND model_id <> $2",
    "SELECT count(*) FROM registrations WHERE event_id = $1 AND removed_at IS NULL AND model_id <> $2"
    " AND photo_sealed IS NULL",
    "UPDATE registrations SET encoding = NULL, encoding_sealed = $2, model_id = $3"
    " WHERE registration_id = $1 AND model_id <> $3",
    photo_seal.registration_owner,
)
_WATCH = _Table(
    "watchlist",
    "SELECT id, photo_sealed FROM watchlist_entries WHERE $1::text IS NOT NULL"
    " AND removed_at IS NULL AND model_id <> $2 AND photo_sealed IS NOT NULL AND id > $3"
    " ORDER BY id LIMIT $4",
    "SELECT count(*) FROM watchlist_entries WHERE $1::text IS NOT NULL AND removed_at IS NULL"
    " AND model_id <> $2",
    "SELECT count(*) FROM watchlist_entries WHERE $1::text IS NOT NULL AND removed_at IS NULL"
    " AND model_id <> $2 AND photo_sealed IS NULL",
    "UPDATE watchlist_entries SET encoding = NULL, encoding_sealed = $2, model_id = $3 WHERE id = $1 AND model_id <> $3",
    photo_seal.watch_owner,
)


async def _run(conn: asyncpg.Connection, t: _Table, event_id: str, model_id: str, key: bytes,
               opts: EngineOptions, pool: Executor, batch_size: int, out: KindSummary,
               progress: Progress | None) -> None:
    loop = asyncio.get_running_loop()
    out.total = int(await conn.fetchval(t.count, event_id, model_id))
    out.no_photo = int(await conn.fetchval(t.no_photo, event_id, model_id))
    done = out.no_photo
    if progress:
        progress(t.kind, done, out.total)
    after = ""
    while True:
        rows = await conn.fetch(t.select, event_id, model_id, after, batch_size)
        if not rows:
            break
        after = rows[-1]["id"]
        photos: dict[str, bytes] = {}
        for r in rows:
            try:
                photos[r["id"]] = photo_seal.unseal(key, bytes(r["photo_sealed"]), t.owner(r["id"]))
            except PhotoSealError as err:
                out.failed.append({"id": r["id"], "code": err.code, "detail": str(err)})
        made = await asyncio.gather(*(loop.run_in_executor(pool, _embed, data, opts)
                                      for data in photos.values()))
        async with conn.transaction():
            for rid, res in zip(photos, made, strict=True):
                if res.problem is not None or res.result is None or res.result.embedding is None:
                    out.failed.append({"id": rid, "code": res.problem or "no_face",
                                       "detail": res.image_detail or f"no usable face for {res.model_id}"})
                    continue
                if res.model_id != model_id:
                    raise RuntimeError(f"face worker runs {res.model_id}, expected {model_id}")
                sealed = face_seal.seal(key, res.result.embedding, t.owner(rid), model_id)  # sql/0023
                status = await conn.execute(t.update, rid, sealed, model_id)
                out.reenrolled += status.endswith(" 1")
        done += len(rows)
        if progress:
            progress(t.kind, done, out.total)


async def reenrol(conn: asyncpg.Connection, event_id: str, *, opts: EngineOptions, photo_key: bytes,
                  watchlists: bool = True, executor: Executor | None = None, workers: int | None = None,
                  batch_size: int = 50, progress: Progress | None = None) -> ReenrolSummary:
    """Re-enrol the event's registrations (and every watchlist entry) with the engine of
    `opts` (see the module docstring)."""
    from vision.engine import spec

    model_id = spec(opts.name).model_id
    summary = ReenrolSummary(model_id)
    own = executor is None
    n = workers or min(4, os.cpu_count() or 1)
    pool = executor or face_executor(n if n > 1 else 0, "reenrol", opts)
    try:
        await _run(conn, _REGISTRATIONS, event_id, model_id, photo_key, opts, pool, batch_size,
                   summary.registrations, progress)
        if watchlists:
            await _run(conn, _WATCH, event_id, model_id, photo_key, opts, pool, batch_size,
                       summary.watchlist, progress)
    finally:
        if own:
            pool.shutdown(wait=True)
    return summary
