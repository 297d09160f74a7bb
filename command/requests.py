"""Request helpers shared by the REST modules (a leaf: imports no other command module)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 with a clear message."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "body is not valid JSON"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON error body."""
    return web.HTTPBadRequest(text=json.dumps({"error": "bad_request", "message": message}),
                              content_type="application/json")
