"""Request helpers shared by the REST modules (a leaf: imports no other command module).

Bodies are decoded and validated in one place, eventguard.wire (decode_body): types, ranges,
lengths and vocabularies; an error names the field. JSON bodies must say so in Content-Type:
a page of another site can only send text/plain or a form without a preflight.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

import msgspec
from aiohttp import web

from eventguard.errors import WireError
from eventguard.wire import Body, decode_body, error_field

MAX_BODY_BYTES = 64 * 1024  # a JSON body; uploads (photos) have their own limit
B = TypeVar("B", bound=Body)


def _error(cls: type[web.HTTPException], code: str, message: str, field: str | None = None
           ) -> web.HTTPException:
    body = {"error": code, "message": message, **({"field": field} if field else {})}
    return cls(text=json.dumps(body), content_type="application/json")


async def read_body(request: web.Request, kind: type[B]) -> B:
    """The request's JSON body decoded as `kind`, or a 4xx that names the field."""
    if request.content_type != "application/json":
        raise _error(web.HTTPUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_BODY_BYTES, actual_size=request.content_length, content_type="application/json",
            text=json.dumps({"error": "body_too_large", "message": f"the body limit is {MAX_BODY_BYTES} bytes"}))
    data = await request.read()
    try:
        return decode_body(kind, data, max_bytes=MAX_BODY_BYTES)
    except WireError as err:
        if err.field is None:
            raise _error(web.HTTPBadRequest, "bad_json", str(err)) from None
        raise _error(web.HTTPBadRequest, "bad_request", str(err), err.field) from None


def form_fields(form: Mapping[str, object], kind: type[B]) -> B:
    """The text fields of a multipart form decoded as `kind` (files are left out)."""
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        return msgspec.convert(fields, type=kind)
    except msgspec.ValidationError as err:
        raise _error(web.HTTPBadRequest, "bad_request", str(err), error_field(err)) from None


def bad_request(message: str, field: str | None = None) -> web.HTTPException:
    """A 400 with a JSON error body."""
    return _error(web.HTTPBadRequest, "bad_request", message, field)


def path_int(request: web.Request, name: str = "id") -> int:
    """A positive bigint from the URL path (an order, incident or case id); 400 naming it otherwise."""
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise bad_request(f"{name} must be an integer", name) from None
    if not 1 <= value < 2**63:
        raise bad_request(f"{name} must be between 1 and 2^63-1", name)
    return value
