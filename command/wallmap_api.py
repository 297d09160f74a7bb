"""The wall map's REST (issue 20): the venue plan picture with its georeference, and the recent
history of every zone and gate for the charts."""

from __future__ import annotations

from aiohttp import web

from command.appkeys import VENUE
from command.auth import STAFF, Principal
from command.errors import NotFound
from command.routing import guarded
from command.series import HISTORY

routes = web.RouteTableDef()


@guarded(routes, "GET", "/api/plan", STAFF, tag="live")
async def plan_info(request: web.Request, who: Principal) -> web.Response:
    """The venue plan picture: its size in pixels and the map to venue metres (null: none)."""
    plan = request.app[VENUE].plan
    if plan is None:
        return web.json_response({"plan": None})
    return web.json_response({"plan": {"url": "/api/plan/image", "size_px": list(plan.size_px),
                                       "transform": list(plan.transform), "media_type": plan.media_type}})


@guarded(routes, "GET", "/api/plan/image", STAFF, tag="live")
async def plan_image(request: web.Request, who: Principal) -> web.StreamResponse:
    """The venue plan picture itself (PNG, JPEG or SVG, as checked when the venue was loaded)."""
    plan = request.app[VENUE].plan
    if plan is None:
        raise NotFound("this venue has no plan picture")
    return web.FileResponse(plan.image, headers={"Content-Type": plan.media_type, "Cache-Control": "private, max-age=300"})


@guarded(routes, "GET", "/api/series", STAFF, tag="live")
async def series(request: web.Request, who: Principal) -> web.Response:
    """The last ten minutes of every zone (occupancy, inflow) and gate (entries/min, queue)."""
    return web.json_response(request.app[HISTORY].to_wire())
