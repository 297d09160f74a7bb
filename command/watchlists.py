"""Watchlists: store functions and REST routes (commanders and operators only; viewers get 403).

Every read of entries and every view of hits writes the audit log. Entry photos are encoded
on the server in a thread (dlib never runs on the event loop); only the 128-d encoding is
kept, never the photo. Encodings leave the server only to a commander who asks for them.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from aiohttp import web
from aiohttp.web_request import FileField

from command import store, watchlist_store
from command.appkeys import POOL
from command.auth import Principal, Role
from command.errors import NotFound
from command.requests import form_fields, read_body
from command.routing import guarded
from eventguard.wire import WatchlistBody, WatchlistEntryForm
from vision.errors import EmptyImage, ImageTooLarge, NotAnImage, UnsupportedImage

routes = web.RouteTableDef()
ACTORS = (Role.COMMANDER, Role.OPERATOR)
ENCODING_BYTES = 128 * 8
IMAGE_ERRORS = frozenset(c.code for c in (EmptyImage, ImageTooLarge, NotAnImage, UnsupportedImage))


def _json_error(cls: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": code, "message": message}), content_type="application/json")


# ---- REST -----------------------------------------------------------------------------------


_FACES = ThreadPoolExecutor(1, thread_name_prefix="watchlist-faces")  # dlib: one thread, never two


def _encode_photo(data: bytes) -> np.ndarray | str:
    """The one face's encoding, or a problem code (runs in a thread)."""
    from vision import dlibface as faces
    from vision.errors import ImageError
    from vision.image import decode_bytes, to_rgb

    try:
        rgb = to_rgb(decode_bytes(data))
    except ImageError as err:
        return err.code
    res = faces.analyse(rgb, detect_width=640, min_face_px=40)
    if res.problem is not None or res.encoding is None:
        return res.problem.value if res.problem else "no_face"
    return res.encoding


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
    """Add an entry from a photo: multipart fields photo (file), label, optional id_hash (hex HMAC)."""
    form = await request.post()
    photo = form.get("photo")
    if not isinstance(photo, FileField):
        raise _json_error(web.HTTPBadRequest, "bad_request", "multipart fields 'photo' (file) and 'label' are required")
    fields = form_fields(form, WatchlistEntryForm)
    label, id_hash = fields.label, bytes.fromhex(fields.id_hash) if fields.id_hash else None
    enc = await asyncio.get_running_loop().run_in_executor(_FACES, _encode_photo, photo.file.read())
    if isinstance(enc, str):
        status = web.HTTPBadRequest if enc in IMAGE_ERRORS else web.HTTPUnprocessableEntity
        raise _json_error(status, enc, f"the photo cannot be used: {enc}")
    list_id = request.match_info["list_id"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        entry_id = await watchlist_store.add_entry(conn, list_id, label.strip(), enc, who.subject, id_hash)
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
        out = await watchlist_store.entries(conn, list_id, with_encodings=with_enc)
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
