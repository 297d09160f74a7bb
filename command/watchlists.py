"""Watchlists: store functions and REST routes (commanders and operators only; viewers get 403).

Every read of entries and every view of hits writes the audit log. Entry photos are encoded
on the server in a thread (dlib never runs on the event loop); only the 128-d encoding is
kept, never the photo. Encodings leave the server only to a commander who asks for them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import numpy as np
from aiohttp import web
from aiohttp.web_request import FileField

from command import store
from command.api import json_body
from command.auth import Principal, Role
from command.errors import NotFound
from command.keys import POOL
from command.routing import guarded
from eventguard.wire import WatchlistHitReport
from gate.watchlist import Severity, WatchlistIndex

routes = web.RouteTableDef()
ACTORS = (Role.COMMANDER, Role.OPERATOR)
ENCODING_BYTES = 128 * 8


def _json_error(cls: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": code, "message": message}), content_type="application/json")


# ---- store ----------------------------------------------------------------------------------


async def create_list(conn: asyncpg.Connection, name: str, severity: Severity, by: str) -> dict[str, Any]:
    """A new active watchlist."""
    row = await conn.fetchrow(
        "INSERT INTO watchlists (id, name, severity, created_by) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name) DO NOTHING RETURNING id, name, severity, active",
        uuid.uuid4().hex, name, severity.value, by)
    if row is None:
        raise _json_error(web.HTTPConflict, "conflict", f"a watchlist named {name!r} exists")
    return dict(row)


async def lists(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every watchlist with its number of current entries."""
    rows = await conn.fetch(
        "SELECT w.id, w.name, w.severity, w.active, count(e.id) FILTER (WHERE e.removed_at IS NULL) AS entries "
        "FROM watchlists w LEFT JOIN watchlist_entries e ON e.list_id = w.id GROUP BY w.id ORDER BY w.name")
    return [dict(r) for r in rows]


async def add_entry(conn: asyncpg.Connection, list_id: str, label: str, encoding: np.ndarray, by: str,
                    id_hash: bytes | None = None) -> str:
    """Store one entry's encoding; its id."""
    enc = np.asarray(encoding, dtype="<f8")
    if enc.shape != (128,) or not np.all(np.isfinite(enc)):
        raise ValueError("encoding must be 128 finite numbers")
    entry_id = uuid.uuid4().hex
    try:
        await conn.execute(
            "INSERT INTO watchlist_entries (id, list_id, label, id_hash, encoding, added_by) "
            "VALUES ($1, $2, $3, $4, $5, $6)", entry_id, list_id, label, id_hash, enc.tobytes(), by)
    except asyncpg.ForeignKeyViolationError as err:
        raise NotFound(f"no watchlist {list_id}") from err
    return entry_id


async def entries(conn: asyncpg.Connection, list_id: str, *, with_encodings: bool = False) -> list[dict[str, Any]]:
    """Current entries of a list (encodings as lists of floats only when asked)."""
    rows = await conn.fetch(
        "SELECT id, label, id_hash IS NOT NULL AS has_id, added_by, added_at, encoding "
        "FROM watchlist_entries WHERE list_id = $1 AND removed_at IS NULL ORDER BY added_at, id", list_id)
    out = []
    for r in rows:
        d: dict[str, Any] = {"id": r["id"], "label": r["label"], "has_id": r["has_id"], "added_by": r["added_by"],
                             "added_at": r["added_at"].timestamp()}
        if with_encodings:
            d["encoding"] = np.frombuffer(r["encoding"], dtype="<f8").tolist()
        out.append(d)
    return out


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


async def load_index(conn: asyncpg.Connection) -> WatchlistIndex:
    """Every current entry of every active list as a gate-side index (version = newest change)."""
    rows = await conn.fetch(
        "SELECT e.id, e.list_id, w.severity, e.encoding, greatest(e.sync_version, w.sync_version) AS v "
        "FROM watchlist_entries e JOIN watchlists w ON w.id = e.list_id "
        "WHERE e.removed_at IS NULL AND w.active ORDER BY e.id")
    if not rows:
        return WatchlistIndex()
    mat = np.stack([np.frombuffer(r["encoding"], dtype="<f8") for r in rows])
    return WatchlistIndex.from_arrays([r["id"] for r in rows], [r["list_id"] for r in rows],
                                      [r["severity"] for r in rows], mat, version=max(r["v"] for r in rows))


# ---- REST -----------------------------------------------------------------------------------


_FACES = ThreadPoolExecutor(1, thread_name_prefix="watchlist-faces")  # dlib: one thread, never two


def _encode_photo(data: bytes) -> np.ndarray | str:
    """The one face's encoding, or a problem code (runs in a thread)."""
    from gate import faces
    from gate.errors import ImageError
    from gate.image import decode_bytes, to_rgb

    try:
        rgb = to_rgb(decode_bytes(data))
    except ImageError as err:
        return err.code
    res = faces.analyse(rgb, detect_width=640, min_face_px=40)
    if res.problem is not None or res.encoding is None:
        return res.problem.value if res.problem else "no_face"
    return res.encoding


@guarded(routes, "POST", "/api/watchlists", ACTORS, tag="watchlists")
async def create(request: web.Request, who: Principal) -> web.Response:
    """Create a list: {"name": ..., "severity": "info" | "detain" | "deny"}."""
    body = await json_body(request)
    name, severity = body.get("name"), body.get("severity")
    if not isinstance(name, str) or not name.strip() or severity not in {s.value for s in Severity}:
        raise _json_error(web.HTTPBadRequest, "bad_request", "name and severity (info, detain, deny) are required")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        wl = await create_list(conn, name.strip(), Severity(severity), who.subject)
        await store.audit(conn, who.subject, who.role.value, "watchlist_create", wl["id"],
                          {"name": wl["name"], "severity": wl["severity"]})
    return web.json_response(wl, status=201)


@guarded(routes, "GET", "/api/watchlists", ACTORS, tag="watchlists")
async def index(request: web.Request, who: Principal) -> web.Response:
    """Lists and their sizes."""
    async with request.app[POOL].acquire() as conn:
        out = await lists(conn)
        await store.audit(conn, who.subject, who.role.value, "watchlist_lists_read", None, {})
    return web.json_response(out)


@guarded(routes, "POST", "/api/watchlists/{list_id}/entries", ACTORS, tag="watchlists")
async def add(request: web.Request, who: Principal) -> web.Response:
    """Add an entry from a photo: multipart fields photo (file), label, optional id_hash (hex HMAC)."""
    form = await request.post()
    photo, label = form.get("photo"), form.get("label")
    if not isinstance(photo, FileField) or not isinstance(label, str) or not label.strip():
        raise _json_error(web.HTTPBadRequest, "bad_request", "multipart fields 'photo' (file) and 'label' are required")
    raw_hash = form.get("id_hash")
    try:
        id_hash = bytes.fromhex(raw_hash) if isinstance(raw_hash, str) and raw_hash else None
    except ValueError:
        raise _json_error(web.HTTPBadRequest, "bad_request", "id_hash must be hex") from None
    enc = await asyncio.get_running_loop().run_in_executor(_FACES, _encode_photo, photo.file.read())
    if isinstance(enc, str):
        status = web.HTTPBadRequest if enc in ("empty_image", "not_an_image", "image_too_large") \
            else web.HTTPUnprocessableEntity
        raise _json_error(status, enc, f"the photo cannot be used: {enc}")
    list_id = request.match_info["list_id"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        entry_id = await add_entry(conn, list_id, label.strip(), enc, who.subject, id_hash)
        await store.audit(conn, who.subject, who.role.value, "watchlist_entry_add", entry_id,
                          {"list": list_id, "label": label.strip()})
    return web.json_response({"id": entry_id, "list_id": list_id, "label": label.strip()}, status=201)


@guarded(routes, "GET", "/api/watchlists/{list_id}/entries", ACTORS, tag="watchlists")
async def read_entries(request: web.Request, who: Principal) -> web.Response:
    """Entries of a list; `?encodings=1` adds encodings (commanders only). Audited."""
    with_enc = request.query.get("encodings") in ("1", "true")
    if with_enc and who.role is not Role.COMMANDER:
        raise _json_error(web.HTTPForbidden, "forbidden", "only a commander may read encodings")
    list_id = request.match_info["list_id"]
    async with request.app[POOL].acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM watchlists WHERE id = $1", list_id) is None:
            raise NotFound(f"no watchlist {list_id}")
        out = await entries(conn, list_id, with_encodings=with_enc)
        await store.audit(conn, who.subject, who.role.value, "watchlist_entries_read", list_id,
                          {"count": len(out), "encodings": with_enc})
    return web.json_response(out)


@guarded(routes, "GET", "/api/watchlist-hits", ACTORS, tag="watchlists")
async def read_hits(request: web.Request, who: Principal) -> web.Response:
    """Newest gate hits. Audited."""
    async with request.app[POOL].acquire() as conn:
        out = await hits(conn)
        await store.audit(conn, who.subject, who.role.value, "watchlist_hits_read", None, {"count": len(out)})
    return web.json_response(out)
