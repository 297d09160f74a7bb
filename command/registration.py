"""Real-name registration (实名制): CSV + photos in, one face embedding per holder in PostgreSQL.

Import pipeline (`import_csv`):
  1. parse and check every row (pure: `parse_rows`); a bad row gets a closed RejectCode;
  2. skip rows already registered for the event (keyed by the ID number's HMAC), so a re-run
     resumes where an interrupted one stopped and never duplicates;
  3. analyse each new photo once with the face engine (vision/faceworker.py, SFace by default)
     in worker processes; unreadable / no face / several faces / too small / blurred or
     turned away -> rejected;
  4. insert in transactions of `batch_size` rows (ON CONFLICT DO NOTHING) with the embedding,
     the id of the model that made it, and the photo sealed (command/photo_seal.py) so a
     change of model can re-enrol it;
  5. pre-screen every registration of the run against every watchlist (command/prescreen.py):
     a candidate is held for review; optionally a signed ticket per registration not held.

ID numbers never reach the database in clear: only HMAC-SHA256 under a per-installation
secret (a 0600 file next to the signing keys) and the last four characters for display.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from command import face_seal, issuing, photo_seal, prescreen
from eventguard import tickets
from eventguard.errors import ConfigError
from eventguard.identity import DocType, check_number, explain, keyed_hash, normalise
from vision.engine import spec
from vision.faceworker import EngineOptions, Enrolment

COLUMNS = ("name", "id_number", "ticket_type", "entrances", "photo", "id_type")
OPTIONAL = ("entrances", "id_type")  # id_type: resident_id (the default), passport, hk_macau_permit, taiwan_permit
_GATE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")


class RejectCode(enum.StrEnum):
    """Why a CSV row was not imported (closed vocabulary; text lives in `detail`)."""

    MISSING_FIELD = "missing_field"
    BAD_ID_NUMBER = "bad_id_number"
    BAD_ID_TYPE = "bad_id_type"
    BAD_TICKET_TYPE = "bad_ticket_type"
    BAD_ENTRANCES = "bad_entrances"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    PHOTO_MISSING = "photo_missing"
    PHOTO_UNREADABLE = "photo_unreadable"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_POOR_QUALITY = "face_poor_quality"  # blurred, or the face turned away


class RowStatus(enum.StrEnum):
    """Outcome of one CSV row."""

    IMPORTED = "imported"
    SKIPPED = "skipped"  # already registered (a re-run)
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Row:
    """One checked CSV row (the ID number is already reduced to its HMAC and last 4)."""

    line: int
    name: str
    id_hmac: bytes
    id_last4: str
    ticket_type: str
    entrances: tuple[str, ...]
    photo: Path


@dataclass(frozen=True, slots=True)
class RowResult:
    """What happened to one CSV row (JSON-ready via `as_dict`)."""

    line: int
    status: RowStatus
    code: RejectCode | None = None
    detail: str = ""
    registration_id: str | None = None
    ticket_id: str | None = None
    payload: str | None = None
    ticket_issued: bool = False  # issued by this run (False: the registration's existing ticket)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict without empty fields."""
        d: dict[str, Any] = {"line": self.line, "status": self.status.value}
        if self.ticket_id:
            d["ticket_issued"] = self.ticket_issued
        for k in ("code", "detail", "registration_id", "ticket_id", "payload"):
            v = getattr(self, k)
            if v:
                d[k] = str(v)
        return d


@dataclass(slots=True)
class ImportSummary:
    """Totals of one import run."""

    rows: list[RowResult] = field(default_factory=list)

    def count(self, status: RowStatus) -> int:
        """Rows with this status."""
        return sum(1 for r in self.rows if r.status is status)

    def reasons(self) -> dict[str, int]:
        """Reject code -> number of rows."""
        out: dict[str, int] = {}
        for r in self.rows:
            if r.code is not None:
                out[r.code.value] = out.get(r.code.value, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready totals."""
        return {"imported": self.count(RowStatus.IMPORTED), "skipped": self.count(RowStatus.SKIPPED),
                "rejected": self.count(RowStatus.REJECTED), "reasons": self.reasons(),
                "tickets": sum(1 for r in self.rows if r.ticket_issued),
                "tickets_existing": sum(1 for r in self.rows if r.ticket_id and not r.ticket_issued)}


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """Issue one ticket per registration with these parameters."""

    key_id: int
    key: Ed25519PrivateKey
    valid_from: int
    valid_until: int
    now: int


# ---- ID numbers ---------------------------------------------------------------------------


def id_hmac(secret: bytes, id_number: str) -> bytes:
    """HMAC-SHA256 of the normalised ID number under the installation's secret."""
    return keyed_hash(secret, id_number)


def id_key_path(root: Path | None = None) -> Path:
    """Where the ID-number HMAC secret lives (0600, next to the signing keys)."""
    from eventguard.settings import data_dir

    return (root or data_dir() / "keys") / "id_hmac.secret"


def load_id_secret(path: Path, *, create: bool = True) -> bytes:
    """Read the HMAC secret, creating a random one (0600, never overwritten) if absent."""
    from command.signing_keys import write_private_key

    if not path.exists():
        if not create:
            raise ConfigError(f"ID-number secret {path} is missing")
        try:
            write_private_key(path, secrets.token_bytes(32))
        except FileExistsError:
            pass  # another process created it first: use theirs
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; chmod 600 it")
    raw = path.read_bytes()
    if len(raw) != 32:
        raise ConfigError(f"{path} is not a 32-byte secret")
    return raw


# ---- pure row checks ----------------------------------------------------------------------


def parse_rows(records: Iterable[dict[str, str]], photo_dir: Path, secret: bytes, today: date,
               ) -> tuple[list[Row], list[RowResult]]:
    """Check CSV records (dicts by column); good rows and rejections, by line (header = 1).

    ID numbers are checked by their document type (eventguard.identity: a resident ID's check
    digit, birth date and region; the shapes of passports and permits)."""
    good: list[Row] = []
    bad: list[RowResult] = []
    seen: dict[bytes, int] = {}
    root = photo_dir
    for i, rec in enumerate(records, start=2):
        def reject(code: RejectCode, detail: str, line: int = i) -> None:
            bad.append(RowResult(line, RowStatus.REJECTED, code, detail))

        vals = {c: (rec.get(c) or "").strip() for c in COLUMNS}
        missing = [c for c in ("name", "id_number", "ticket_type", "photo") if not vals[c]]
        if missing:
            reject(RejectCode.MISSING_FIELD, "empty or missing: " + ", ".join(missing))
            continue
        try:
            doc = DocType(vals["id_type"] or DocType.RESIDENT_ID)
        except ValueError:
            reject(RejectCode.BAD_ID_TYPE, f"id_type {vals['id_type']!r}: one of {', '.join(DocType)}")
            continue
        norm = normalise(vals["id_number"])
        problem = check_number(doc, norm, today)
        if problem is not None:
            reject(RejectCode.BAD_ID_NUMBER, f"id_number ({doc.value}): {problem.value}: {explain(problem)}")
            continue
        kind = vals["ticket_type"]
        if len(kind.encode("utf-8")) > tickets.MAX_KIND:
            reject(RejectCode.BAD_TICKET_TYPE, f"ticket_type longer than {tickets.MAX_KIND} bytes")
            continue
        entrances = tuple(e.strip() for e in re.split(r"[;,]", vals["entrances"]) if e.strip())
        if (any(not _GATE_RE.match(e) for e in entrances)
                or len(",".join(entrances)) > tickets.MAX_ENTRANCES):
            reject(RejectCode.BAD_ENTRANCES,
                   f"entrances must be gate ids separated by ';' (at most {tickets.MAX_ENTRANCES} chars)")
            continue
        if Path(vals["photo"]).name != vals["photo"] or vals["photo"] in (".", ".."):
            reject(RejectCode.PHOTO_MISSING, f"photo {vals['photo']!r} must be a file name in the photo folder")
            continue
        photo = root / vals["photo"]
        if not photo.is_file():
            reject(RejectCode.PHOTO_MISSING, f"no file {vals['photo']!r} in the photo folder")
            continue
        mac = id_hmac(secret, norm)
        if mac in seen:
            reject(RejectCode.DUPLICATE_IN_FILE, f"same ID number as line {seen[mac]}")
            continue
        seen[mac] = i
        good.append(Row(i, vals["name"], mac, norm[-4:], kind, entrances, photo))
    return good, bad


def read_csv(path: Path) -> list[dict[str, str]]:
    """CSV records (UTF-8, BOM tolerated); ConfigError if a required column is absent."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip() for c in reader.fieldnames or ()}
        absent = [c for c in COLUMNS if c not in cols and c not in OPTIONAL]
        if absent:
            raise ConfigError(f"{path}: missing column(s) {', '.join(absent)}; need {', '.join(COLUMNS)}")
        return [{(k or "").strip(): v for k, v in rec.items()} for rec in reader]


# ---- faces --------------------------------------------------------------------------------


Encoding = npt.NDArray[np.float64]

_REJECT = {"no_face": RejectCode.NO_FACE, "multiple_faces": RejectCode.MULTIPLE_FACES,
           "face_too_small": RejectCode.FACE_TOO_SMALL, "face_poor_quality": RejectCode.FACE_POOR_QUALITY}


@dataclass(frozen=True, slots=True)
class Enrolled:
    """A photo's bytes and its embedding, ready to store."""

    model_id: str
    embedding: Encoding
    photo: bytes


def reject_of(enrolment: Enrolment) -> tuple[RejectCode, str] | None:
    """Why an enrolment photo is refused (None when it is usable)."""
    problem = enrolment.problem
    if problem is None:
        return None
    if enrolment.image_problem is not None:
        return RejectCode.PHOTO_UNREADABLE, enrolment.image_detail or problem
    r = enrolment.result
    code = _REJECT.get(problem, RejectCode.NO_FACE)
    detail = {RejectCode.NO_FACE: "no face found in the photo",
              RejectCode.MULTIPLE_FACES: f"{r.faces if r else 0} faces in the photo; one person per photo",
              RejectCode.FACE_TOO_SMALL: "face smaller than the engine's enrolment size",
              RejectCode.FACE_POOR_QUALITY: "face blurred or turned away; a sharp, frontal photo is needed",
              }[code]
    return code, detail


def encode_photo(path: Path, opts: EngineOptions) -> Enrolled | tuple[RejectCode, str]:
    """The one face's embedding and the photo's bytes, or why the photo is unusable (runs in a
    face worker)."""
    from vision.faceworker import enrol

    try:
        data = path.read_bytes()
    except OSError as err:
        return RejectCode.PHOTO_UNREADABLE, f"cannot read the photo: {err.strerror}"
    res = enrol(data, opts)
    bad = reject_of(res)
    if bad is not None:
        return bad
    assert res.result is not None and res.result.embedding is not None
    return Enrolled(res.model_id, np.asarray(res.result.embedding, dtype=np.float64), data)


def face_pool(workers: int | None = None, opts: EngineOptions | None = None) -> Executor:
    """Where photos are analysed: one thread, or one spawned process per worker, each with
    its own engine (vision/faceworker.py: dlib and OpenCV's networks are not thread-safe)."""
    from vision.faceworker import face_executor

    n = workers or min(4, os.cpu_count() or 1)
    return face_executor(n if n > 1 else 0, "register", opts)


# ---- database -----------------------------------------------------------------------------


async def existing(conn: asyncpg.Connection, event_id: str, macs: Sequence[bytes]) -> dict[bytes, str]:
    """HMAC -> registration id for the ones already registered for the event."""
    rows = await conn.fetch("SELECT id_hmac, registration_id FROM registrations"
                            " WHERE event_id = $1 AND id_hmac = ANY($2::bytea[])", event_id, list(macs))
    return {bytes(r["id_hmac"]): r["registration_id"] for r in rows}


async def current_tickets(conn: asyncpg.Connection, registration_ids: Sequence[str]) -> dict[str, str]:
    """registration id -> its newest unrevoked ticket id (for those that have one)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (holder_ref) holder_ref, ticket_id FROM tickets"
        " WHERE holder_ref = ANY($1::text[]) AND revoked_at IS NULL ORDER BY holder_ref, issued_at DESC",
        list(registration_ids))
    return {r["holder_ref"]: r["ticket_id"] for r in rows}


async def ticketless(conn: asyncpg.Connection, registration_ids: Sequence[str]) -> set[str]:
    """Those registrations with no unrevoked ticket."""
    rows = await conn.fetch(
        "SELECT r FROM unnest($1::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM tickets t"
        " WHERE t.holder_ref = r AND t.revoked_at IS NULL)", list(registration_ids))
    return {x["r"] for x in rows}


async def _issue(conn: asyncpg.Connection, event_id: str, plan: TicketPlan, registration_id: str,
                 row: Row) -> tuple[str, str]:
    t, payload = await issuing.issue(
        conn, event_id=event_id, key_id=plan.key_id, key=plan.key, valid_from=plan.valid_from,
        valid_until=plan.valid_until, now=plan.now, holder_ref=registration_id,
        entrances=row.entrances, kind=row.ticket_type)
    return t.ticket_id, payload


async def remove(conn: asyncpg.Connection, registration_id: str) -> bool:
    """Withdraw a registration (gates drop its encoding on their next sync); False if unknown."""
    status: str = await conn.execute("UPDATE registrations SET removed_at = now()"
                                     " WHERE registration_id = $1 AND removed_at IS NULL", registration_id)
    return status.endswith(" 1")


async def import_csv(conn: asyncpg.Connection, csv_path: Path, photo_dir: Path, *, event_id: str,
                     secret: bytes, photo_key: bytes | None, face_key: bytes | None = None, today: date | None = None,
                     tickets_plan: TicketPlan | None = None,
                     batch_size: int = 50, executor: Executor | None = None, workers: int | None = None,
                     engine: EngineOptions | None = None,
                     progress: Callable[[RowResult], None] | None = None) -> ImportSummary:
    """Import a registration CSV (see the module docstring); resumable and idempotent.

    `photo_key` seals the photos kept for re-enrolment (None: photos are not kept, and those
    registrations cannot be re-enrolled when the model changes). Embeddings are stored only sealed
    (command/face_seal.py) under `face_key`, by default the photo key; one of them is needed."""
    face_key = face_key if face_key is not None else photo_key
    if face_key is None:
        raise ValueError("a key is needed to seal face embeddings (the photo key)")
    opts = engine or EngineOptions()
    good, bad = parse_rows(read_csv(csv_path), photo_dir, secret, today or date.today())
    summary = ImportSummary(list(bad))
    done = await existing(conn, event_id, [r.id_hmac for r in good])
    need_ticket = await ticketless(conn, list(done.values())) if tickets_plan else set()
    have_ticket = await current_tickets(conn, list(done.values()))
    todo: list[Row] = []
    to_issue: list[tuple[int, str, Row]] = []  # (index in summary.rows, registration, row): tickets wait
    #   for the pre-screening of every registration this run touches (a candidate's is not issued)
    for row in good:
        rid = done.get(row.id_hmac)
        if rid is None:
            todo.append(row)
            continue
        res = RowResult(row.line, RowStatus.SKIPPED, detail="already registered", registration_id=rid,
                        ticket_id=have_ticket.get(rid))
        if tickets_plan and rid in need_ticket:
            to_issue.append((len(summary.rows), rid, row))  # after pre-screening (below)
        summary.rows.append(res)
    own = executor is None
    pool = executor or face_pool(workers, opts)
    loop = asyncio.get_running_loop()
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            encs = await asyncio.gather(*(loop.run_in_executor(pool, encode_photo, r.photo, opts)
                                          for r in batch))
            results: list[RowResult] = []
            async with conn.transaction():
                for row, enc in zip(batch, encs, strict=True):
                    if isinstance(enc, tuple):
                        results.append(RowResult(row.line, RowStatus.REJECTED, enc[0], enc[1]))
                        continue
                    rid = uuid.uuid4().hex
                    sealed = (photo_seal.seal(photo_key, enc.photo, photo_seal.registration_owner(rid))
                              if photo_key is not None else None)
                    got = await conn.fetchval(
                        "INSERT INTO registrations (registration_id, event_id, id_hmac, id_last4, name,"
                        " ticket_type, entrances, photo, encoding_sealed, model_id, photo_sealed)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                        " ON CONFLICT (event_id, id_hmac) DO NOTHING RETURNING registration_id",
                        rid, event_id, row.id_hmac, row.id_last4, row.name, row.ticket_type,
                        list(row.entrances), row.photo.name,
                        face_seal.seal(face_key, enc.embedding, photo_seal.registration_owner(rid), enc.model_id),
                        enc.model_id, sealed)
                    if got is None:  # a concurrent import registered this person meanwhile
                        results.append(RowResult(row.line, RowStatus.SKIPPED, detail="already registered"))
                        continue
                    if tickets_plan:
                        to_issue.append((len(summary.rows) + len(results), rid, row))
                    results.append(RowResult(row.line, RowStatus.IMPORTED, registration_id=rid))
            summary.rows += results
            if progress:
                for r in results:
                    progress(r)
    finally:
        if own:
            pool.shutdown(wait=True)
    await _prescreen_and_issue(conn, event_id, opts, summary, to_issue, tickets_plan, face_key)
    summary.rows.sort(key=lambda r: r.line)
    return summary


async def _prescreen_and_issue(conn: asyncpg.Connection, event_id: str, opts: EngineOptions, summary: ImportSummary,
                               to_issue: list[tuple[int, str, Row]], plan: TicketPlan | None,
                               face_key: bytes) -> None:
    """Screen this run's new registrations and those about to get a ticket against every
    watchlist (command/prescreen.py); issue tickets to those not held for review."""
    touched = sorted({r.registration_id for r in summary.rows
                      if r.status is RowStatus.IMPORTED and r.registration_id} | {rid for _, rid, _ in to_issue})
    if not touched:
        return
    await prescreen.prescreen(conn, event_id, spec(opts.name), cause="import", actor="register import",
                              registration_ids=touched, face_key=face_key)
    if plan is None:
        return
    on_hold = await prescreen.held(conn, [rid for _, rid, _ in to_issue])
    for i, rid, row in to_issue:
        before = summary.rows[i]
        if rid in on_hold:
            summary.rows[i] = replace(before, detail=_join(before.detail, "held for screening review; no ticket"))
            continue
        async with conn.transaction():
            tid, payload = await _issue(conn, event_id, plan, rid, row)
        detail = _join(before.detail, "ticket issued") if before.status is RowStatus.SKIPPED else before.detail
        summary.rows[i] = replace(before, detail=detail, ticket_id=tid, payload=payload, ticket_issued=True)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


async def holder_encoding(conn: asyncpg.Connection, registration_id: str, face_key: bytes | None
                          ) -> tuple[str, Encoding] | None:
    """The stored embedding of a registration and its model id (None if unknown or removed);
    opened with `face_key` (command/face_seal.py)."""
    row = await conn.fetchrow("SELECT registration_id, model_id, encoding, encoding_sealed FROM registrations"
                              " WHERE registration_id = $1 AND removed_at IS NULL", registration_id)
    if row is None:
        return None
    vec = face_seal.registration_face(face_key, row)
    return None if vec is None else (row["model_id"], vec)


async def embeddings(conn: asyncpg.Connection, event_id: str, model_id: str, face_key: bytes | None
                     ) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Registration ids and embeddings of the event's current registrations made by `model_id`
    (only these may be compared with each other), opened with `face_key`."""
    rows = await conn.fetch("SELECT registration_id, model_id, encoding, encoding_sealed FROM registrations"
                            " WHERE event_id = $1 AND model_id = $2 AND removed_at IS NULL ORDER BY registration_id",
                            event_id, model_id)
    faces = [(r["registration_id"], face_seal.registration_face(face_key, r)) for r in rows]
    kept = [(rid, v) for rid, v in faces if v is not None]
    if not kept:
        return [], np.zeros((0, 0))
    return [rid for rid, _ in kept], np.array([v for _, v in kept], dtype=np.float64)
