"""REST for crowd-sensing cameras (issue 18): the latest frame of a camera (可视指挥).

The frame shows members of the public, so it is for the people who act on it — commanders
and operators — not for viewers (least privilege; a viewer has the density heatmap), and every
view is audited (who, which camera, the frame's time). No audit row, no frame: when the
database is down the view is refused (503) rather than unrecorded. Frames live in memory only
(command.camera_live); a camera that has sent none yet, or an unknown camera, is a 404.
"""

from __future__ import annotations

from aiohttp import web

from command import store
from command.appkeys import POOL, SERVICE
from command.auth import Principal, Role
from command.errors import NotFound, StoreUnavailable
from command.routing import guarded

routes = web.RouteTableDef()
ACTORS = frozenset({Role.COMMANDER, Role.OPERATOR})


@guarded(routes, "GET", "/api/cameras/{camera_id}/frame", ACTORS, tag="cameras")
async def camera_frame(request: web.Request, who: Principal) -> web.Response:
    """The latest frame of a camera as JPEG (commander, operator; audited)."""
    service = request.app[SERVICE]
    camera_id = request.match_info["camera_id"]
    if camera_id not in {c.id for c in service.venue.cameras}:
        raise NotFound(f"no camera {camera_id}")
    thumb = service.camera_feed.frame(camera_id)
    if thumb is None:
        raise NotFound(f"camera {camera_id} has sent no frame yet")
    try:
        async with request.app[POOL].acquire(timeout=5) as conn:
            await store.audit(conn, who.subject, who.role.value, "camera_frame_view", camera_id,
                              {"frame_at": thumb.at})
    except store.DB_DOWN as err:
        raise StoreUnavailable("the view cannot be audited now; try again") from err
    age = max(0.0, service.clock() - thumb.received_at)
    return web.Response(body=thumb.jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Frame-At": f"{thumb.at:.3f}",
                                 "X-Frame-Age-S": f"{age:.1f}"})
