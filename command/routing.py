"""Guarded REST routes: one decorator declares method, path and allowed roles, checks them
before the handler runs, and records the route for the OpenAPI description and the
access-control tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from command.auth import Principal, Role
from command.errors import NotFound
from command.security import principal
from eventguard.wire import Body

GuardedHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
MAX_PATH_ID = 128  # a path parameter longer than any id, or with control characters, names no row


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A REST route as documented."""

    method: str
    path: str
    roles: tuple[Role, ...]  # empty: public
    summary: str
    body: type[Body] | None = None  # the request body (its JSON schema comes from the type)
    tags: tuple[str, ...] = field(default=())


REGISTRY: list[RouteInfo] = []


def guarded(routes: web.RouteTableDef, method: str, path: str, roles: frozenset[Role] | tuple[Role, ...],
            *, body: type[Body] | None = None, tag: str = "api"
            ) -> Callable[[GuardedHandler], GuardedHandler]:
    """Register fn(request, principal) under method+path, allowed only for roles."""
    allowed = tuple(sorted(roles))

    def deco(fn: GuardedHandler) -> GuardedHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            who = await principal(request, *allowed)
            for name, value in request.match_info.items():  # ids in the path: no such row
                if len(value) > MAX_PATH_ID or not value.isprintable():
                    raise NotFound(f"no such {name}")
            return await fn(request, who)

        handler.__doc__ = fn.__doc__
        handler.__name__ = fn.__name__
        routes.route(method, path)(handler)
        REGISTRY.append(RouteInfo(method.upper(), path, allowed, (fn.__doc__ or "").strip().splitlines()[0],
                                  body, (tag,)))
        return fn

    return deco


def public(routes: web.RouteTableDef, method: str, path: str, *, body: type[Body] | None = None,
           tag: str = "api") -> Callable[[Callable[[web.Request], Awaitable[web.StreamResponse]]],
                                         Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Register a public route and record it."""

    def deco(fn: Callable[[web.Request], Awaitable[web.StreamResponse]]
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        routes.route(method, path)(fn)
        REGISTRY.append(RouteInfo(method.upper(), path, (), (fn.__doc__ or "").strip().splitlines()[0],
                                  body, (tag,)))
        return fn

    return deco


def openapi(title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 description of every registered route."""
    paths: dict[str, dict[str, Any]] = {}
    bodies = [r.body for r in REGISTRY if r.body is not None]
    body_refs, schemas = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    ref = dict(zip(bodies, body_refs, strict=True))
    for r in REGISTRY:
        op: dict[str, Any] = {
            "summary": r.summary, "tags": list(r.tags),
            "responses": {"200": {"description": "OK"}, "400": {"description": "bad request"},
                          **({"401": {"description": "not authenticated"},
                              "403": {"description": "role not allowed"}} if r.roles else {})},
        }
        if r.roles:
            op["security"] = [{"bearer": []}, {"cookie": []}]
            op["x-roles"] = [str(x) for x in r.roles]
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref[r.body]}}}
        params = [{"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                  for seg in r.path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = params
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "eg_session"}}},
    }
