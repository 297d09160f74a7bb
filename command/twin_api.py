"""REST routes of the digital twin (issue 19): the latest forecast (for a reload) and "what if"."""

from __future__ import annotations

from aiohttp import web

from command import store
from command.appkeys import POOL, TWIN, VENUE
from command.auth import ACTORS, STAFF, Principal
from command.errors import TwinUnavailable
from command.requests import bad_request, read_body
from command.routing import guarded
from command.twin import TwinRefused, change_refusal, change_text
from command.twin_service import TwinService
from eventguard.wire import WhatIfBody, to_builtins

routes = web.RouteTableDef()


def _twin(request: web.Request) -> TwinService:
    twin = request.app.get(TWIN)
    if twin is None:
        raise TwinUnavailable("this server runs without a twin model")
    return twin


@guarded(routes, "GET", "/api/twin", STAFF, tag="twin")
async def latest(request: web.Request, who: Principal) -> web.Response:
    """The twin's latest forecast per zone at +5/+10/+15 min (null before its first run)."""
    twin = _twin(request)
    return web.json_response({"forecast": to_builtins(twin.latest) if twin.latest else None,
                              "interval_s": twin.interval_s})


@guarded(routes, "POST", "/api/twin/whatif", ACTORS, body=WhatIfBody, tag="twin")
async def whatif(request: web.Request, who: Principal) -> web.Response:
    """The forecast with the changes beside the baseline, from the same live state; audited."""
    body = await read_body(request, WhatIfBody)
    venue = request.app[VENUE]
    for i, c in enumerate(body.changes):
        refused = change_refusal(venue, c)
        if refused is not None:
            raise bad_request(refused[1], f"changes[{i}].{refused[0]}")
    twin = _twin(request)
    try:
        baseline, changed = await twin.whatif(body.changes)
    except TwinRefused as err:
        raise bad_request(str(err), "changes") from err
    async with request.app[POOL].acquire() as conn:
        await store.audit(conn, who.subject, who.role.value, "twin_whatif", None,
                          {"changes": [change_text(c) for c in body.changes],
                           "computed_at": changed.computed_at})
    return web.json_response({"baseline": to_builtins(baseline), "with_changes": to_builtins(changed)})
