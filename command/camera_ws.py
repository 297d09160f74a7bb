"""/ws/camera: crowd-sensing cameras stream their per-interval reports (issue 18).

A camera authenticates with its own token (eventguard cameras token C) and may send only
reports of its own zones and lines (command.crowdsense.report_problem); anything else in a
batch is left out, logged and counted as rejected in the BatchAck, so its journal drains.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from command.appkeys import SERVICE
from command.auth import Role
from command.crowdsense import report_problem
from command.device_link import device_link, send
from command.errors import StoreUnavailable
from command.service import CommandService
from eventguard.config import Camera
from eventguard.errors import WireError
from eventguard.wire import (
    CameraBatch,
    CameraLive,
    ErrorMsg,
    Ping,
    Pong,
    decode_from_camera,
)

log = logging.getLogger(__name__)


async def camera_ws(request: web.Request) -> web.WebSocketResponse:
    """Authenticate a camera, then store its batches one at a time."""
    async with device_link(request, Role.CAMERA) as (who, ws):
        service = request.app[SERVICE]
        await _serve(ws, service, who.subject, {c.id: c for c in service.venue.cameras})
    return ws


async def _serve(ws: web.WebSocketResponse, service: CommandService, camera_id: str,
                 cams: dict[str, Camera]) -> None:
    """Store the camera's batches one at a time."""
    async for msg in ws:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        try:
            m, bad = decode_from_camera(msg.data)
        except WireError as err:
            log.warning("camera %s sent a bad message: %s", camera_id, err)
            await send(ws, ErrorMsg(code="bad_message", message=str(err), field=err.field))
            continue
        if isinstance(m, Ping):
            await send(ws, Pong(nonce=m.nonce))
            continue
        if isinstance(m, CameraLive):  # live grid / thumbnail: kept in memory, not acknowledged
            if m.camera_id != camera_id:
                log.warning("camera %s sent a live picture as %r; ignored", camera_id, m.camera_id)
                await send(ws, ErrorMsg(code="bad_message", message="camera_id is not this camera's",
                                        field="camera_id"))
            else:
                service.take_camera_live(m)
            continue
        assert isinstance(m, CameraBatch)
        problems = [(r, report_problem(r, camera_id, cams.get(camera_id))) for r in m.reports]
        refused = [*bad, *(f"{r.report_id}: {p}" for r, p in problems if p is not None)]
        for reason in refused[:5]:
            log.warning("camera %s batch %s: report set aside: %s", camera_id, m.batch_id, reason)
        try:
            ack = await service.ingest_camera(tuple(r for r, p in problems if p is None), m.batch_id,
                                              rejected=len(refused))
        except StoreUnavailable as err:
            log.warning("camera batch %s from %s not stored: %s", m.batch_id, camera_id, err)
            await send(ws, ErrorMsg(code=err.code, message=f"batch {m.batch_id} not stored; retry later"))
            continue
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        await send(ws, ack)
