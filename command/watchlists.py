"""Watchlists: store functions and REST routes (commanders and operators only; viewers get 403).

Every read of entries and every view of hits writes the audit log. Entry photos are embedded
on the server by its face engine in one face thread (model inference never runs on the event
loop). The embedding is stored with its model id, and the photo only sealed
(command/photo_seal.py, the key outside the database) for re-enrolment when the model
changes; it is never served. Embeddings leave the server only to a commander who asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_request import FileField

from command import governance, photo_seal, store, watchlist_store
from command.appkeys import FACES, PHOTO_KEY, POOL, SETTINGS
from command.auth import Principal, Role
from command.errors import NotFound
from command.requests import bad_request, form_fields, read_body
from command.routing import guarded
from command.screening_api import prescreen_event
from eventguard.wire import RemoveEntryBody, WatchlistBody, WatchlistEntryForm
from vision.engine import EngineName
from vision.faceworker import EngineOptions, Enrolment, enrol

routes = web.RouteTableDef()
ACTORS = (Role.COMMANDER, Role.OPERATOR)
EXPIRY_EVERY_S = 60.0
log = logging.getLogger(__name__)


def _json_error(cls: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": code, "message": message}), content_type="application/json")


# ---- REST -----------------------------------------------------------------------------------


def _encode_photo(data: bytes, opts: EngineOptions) -> Enrolment:
    """The one face's embedding, or why there is none (runs in the server's face thread)."""
    return enrol(data, opts)


@guarded(routes, "POST", "/api/watchlists", ACTORS, body=WatchlistBody, tag="watchlists")
async def create(request: web.Request, who: Principal) -> web.Response:
    """Create a list: {"name": ..., "severity": "info" | "detain" | "deny"}."""
    body = await read_body(request, WatchlistBody)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        wl = await watchlist_store.create_list(conn, body.name.strip(), body.severity, who.subject)
        await store.audit(conn, who.subject, who.role.value, "watchlist_create", wl["id"],
                          {"name": wl["name"], "severity": wl["severity"]})
    return web.json_response(wl, status=201)


@guarded(routes, "GET", "/api/watchlists", ACTORS, tag="watchlists")
async def index(request: web.Request, who: Principal) -> web.Response:
    """Lists and their sizes."""
    async with request.app[POOL].acquire() as conn:
        out = await watchlist_store.lists(conn)
        await store.audit(conn, who.subject, who.role.value, "watchlist_lists_read", None, {})
    return web.json_response(out)


@guarded(routes, "POST", "/api/watchlists/{list_id}/entries", ACTORS, tag="watchlists")
async def add(request: web.Request, who: Principal) -> web.Response:
    """Add an entry from a photo: multipart fields photo (file), label, legal_basis, expires_at
    (ISO 8601 with its zone), optional owner (default: the caller) and id_hash (hex HMAC)."""
    form = await request.post()
    photo = form.get("photo")
    if not isinstance(photo, FileField):
        raise _json_error(web.HTTPBadRequest, "bad_request",
                          "multipart fields 'photo' (file), 'label', 'legal_basis' and 'expires_at' are required")
    fields = form_fields(form, WatchlistEntryForm)
    if fields.expires_at.timestamp() <= time.time():
        raise bad_request("expires_at must lie in the future", "expires_at")
    label, id_hash = fields.label, bytes.fromhex(fields.id_hash) if fields.id_hash else None
    data = photo.file.read()
    opts = EngineOptions(EngineName(request.app[SETTINGS].face_engine))
    loop = asyncio.get_running_loop()
    res = await loop.run_in_executor(request.app[FACES], _encode_photo, data, opts)
    if res.problem is not None or res.result is None or res.result.embedding is None:
        code = res.problem or "no_face"
        status = web.HTTPBadRequest if res.image_problem is not None else web.HTTPUnprocessableEntity
        raise _json_error(status, code, f"the photo cannot be used: {code}")
    list_id = request.match_info["list_id"]
    entry_id = uuid.uuid4().hex
    key = await loop.run_in_executor(None, request.app[PHOTO_KEY].get)
    sealed = photo_seal.seal(key, data, photo_seal.watch_owner(entry_id))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        owner = (fields.owner or who.subject).strip()
        await watchlist_store.add_entry(conn, list_id, label.strip(), res.result.embedding, who.subject,
                                        id_hash, model_id=res.model_id, photo_sealed=sealed,
                                        entry_id=entry_id, owner=owner, legal_basis=fields.legal_basis.strip(),
                                        expires_at=fields.expires_at, face_key=key)
        await store.audit(conn, who.subject, who.role.value, "watchlist_entry_add", entry_id,
                          {"list": list_id, "label": label.strip(), "owner": owner,
                           "legal_basis": fields.legal_basis.strip(), "expires_at": fields.expires_at.isoformat()})
    # a list changed: every registrant is screened against it; candidates are held for review.
    # The entry is stored either way: a failed run is reported, and `eventguard screening run`
    # (or POST /api/screening/prescreen) repeats it
    screened: dict[str, object]
    try:
        screened = dict(await prescreen_event(request, who, "watchlist_change"))
    except store.DB_DOWN as err:
        log.warning("pre-screening after entry %s not run: %s", entry_id, err)
        screened = {"error": "database_unavailable", "message": "pre-screening not run; run it again"}
    return web.json_response({"id": entry_id, "list_id": list_id, "label": label.strip(),
                              "model_id": res.model_id, "prescreen": screened}, status=201)


@guarded(routes, "GET", "/api/watchlists/{list_id}/entries", ACTORS, tag="watchlists")
async def read_entries(request: web.Request, who: Principal) -> web.Response:
    """Entries of a list; `?encodings=1` adds encodings (commanders only). Audited."""
    with_enc = request.query.get("encodings") in ("1", "true")
    if with_enc and who.role is not Role.COMMANDER:
        raise _json_error(web.HTTPForbidden, "forbidden", "only a commander may read encodings")
    list_id = request.match_info["list_id"]
    key = await asyncio.get_running_loop().run_in_executor(None, request.app[PHOTO_KEY].get) if with_enc else None
    async with request.app[POOL].acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM watchlists WHERE id = $1", list_id) is None:
            raise NotFound(f"no watchlist {list_id}")
        out = await watchlist_store.entries(conn, list_id, with_encodings=with_enc, face_key=key)
        await store.audit(conn, who.subject, who.role.value, "watchlist_entries_read", list_id,
                          {"count": len(out), "encodings": with_enc})
    return web.json_response(out)


@guarded(routes, "GET", "/api/watchlist-hits", ACTORS, tag="watchlists")
async def read_hits(request: web.Request, who: Principal) -> web.Response:
    """Newest gate hits. Audited."""
    async with request.app[POOL].acquire() as conn:
        out = await watchlist_store.hits(conn)
        await store.audit(conn, who.subject, who.role.value, "watchlist_hits_read", None, {"count": len(out)})
    return web.json_response(out)


# ---- governance (issue 17): removal, expiry -------------------------------------------------


@guarded(routes, "POST", "/api/watchlists/entries/{entry_id}/remove", ACTORS, body=RemoveEntryBody, tag="watchlists")
async def remove_entry(request: web.Request, who: Principal) -> web.Response:
    """Remove an entry with the reason: its biometrics are erased, its open cases closed. Audited."""
    body = await read_body(request, RemoveEntryBody)
    async with request.app[POOL].acquire() as conn:
        out = await governance.remove_entry(conn, request.match_info["entry_id"], by=who.subject,
                                            role=who.role.value, reason=body.reason.strip())
    return web.json_response(out)


async def expiry_ctx(app: web.Application) -> AsyncIterator[None]:
    """Remove expired entries at start and every `EXPIRY_EVERY_S` (gates drop them on the sync)."""
    async def sweep() -> None:
        while True:
            try:
                async with app[POOL].acquire(timeout=10) as conn:
                    gone = await governance.expire_entries(conn)
                if gone:
                    log.info("watchlist entries expired and erased: %d", len(gone))
            except Exception:  # noqa: BLE001 - the database may be down: try again next round
                log.warning("watchlist expiry sweep failed", exc_info=True)
            await asyncio.sleep(EXPIRY_EVERY_S)

    task = asyncio.create_task(sweep(), name="watchlist-expiry")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
