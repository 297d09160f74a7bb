"""A camera's live picture on a real server and PostgreSQL: its density grid reaches the live
maps (and later snapshots); its latest frame is served to commanders and operators only, each
view audited; a camera cannot speak for another."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server, wait_for

from command.appkeys import SERVICE
from command.camera_live import CameraFeed
from eventguard.config import Venue, load_venue
from eventguard.wire import (
    CameraHeat,
    CameraLive,
    DensityCells,
    ErrorMsg,
    Snapshot,
    Welcome,
    decode_server_message,
    encode,
)
from sim import crowdscene as scenes

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    """The crowd test venue: a foyer with a gate, a hall seen by camera C1 (overrides conftest's)."""
    return load_venue(scenes.venue_toml(tmp_path / "venue.toml"))


def grid(left: float) -> DensityCells:
    return DensityCells(x0=2.0, y0=8.0, cell_w=8.0, cell_h=6.0, cols=2, rows=1, density=(left, None))


async def camera_socket(server: Server) -> websockets.ClientConnection:
    ws = await websockets.connect(f"{server.ws_url}/ws/camera",
                                  additional_headers={"Authorization": f"Bearer {server.camera_tokens['C1']}"})
    assert isinstance(decode_server_message(await ws.recv()), Welcome)
    return ws


async def get_frame(server: Server, who: str) -> tuple[int, bytes, dict[str, str]]:
    token = await server.login(who)
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/api/cameras/C1/frame",
                                                   headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_grids_reach_the_live_map_and_frames_are_for_actors_only(server: Server) -> None:
    service = server.app[SERVICE]
    assert (await get_frame(server, "commander"))[0] == 404  # nothing sent yet
    viewer = await server.login("viewer")
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {viewer}"}) as live:
        assert isinstance(decode_server_message(await live.recv()), Snapshot)
        cam = await camera_socket(server)
        try:
            await cam.send(encode(CameraLive(camera_id="C1", at=time.time(), grid=grid(1.5), frame=JPEG)).decode())

            async def heat() -> bool:
                m = decode_server_message(await live.recv())
                return isinstance(m, CameraHeat) and m.camera_id == "C1" and m.grid.density == (1.5, None)
            await wait_for(heat, within=5)
            await cam.send(encode(CameraLive(camera_id="C2", at=time.time(), grid=grid(9.0))).decode())
            refused = decode_server_message(await cam.recv())
            assert isinstance(refused, ErrorMsg) and refused.field == "camera_id"
        finally:
            await cam.close()
    snap = await service.snapshot_async()
    assert [(h.camera_id, h.grid.density) for h in snap.camera_heat] == [("C1", (1.5, None))]
    assert not service.camera_feed.frame("C2")

    status, body, headers = await get_frame(server, "operator")
    assert status == 200 and body == JPEG and headers["Content-Type"] == "image/jpeg"
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert (await get_frame(server, "viewer"))[0] == 403  # faces of the public: not for viewers
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = await conn.fetch("SELECT actor, role, subject FROM audit_log WHERE action = 'camera_frame_view'")
    finally:
        await conn.close()
    assert [(r["actor"], r["role"], r["subject"]) for r in rows] == [("operator", "operator", "C1")]
    # a grid goes stale with the zone estimates (15 s): later snapshots leave it out
    assert service.camera_feed.heat(time.time() + 16) == ()


def test_the_feed_keeps_the_newest_and_drops_a_flood() -> None:
    feed = CameraFeed(min_gap_s=0.2)
    first = feed.take(CameraLive(camera_id="C1", at=100.0, grid=grid(1.0), frame=JPEG), now=10.0)
    assert first is not None and feed.take(CameraLive(camera_id="C1", at=101.0, grid=grid(9.0)), now=10.1) is None
    assert feed.dropped == 1
    assert feed.take(CameraLive(camera_id="C1", at=99.0, grid=grid(5.0)), now=11.0) is None  # older than held
    newer = feed.take(CameraLive(camera_id="C1", at=102.0, grid=grid(2.0)), now=12.0)
    assert newer is not None and [h.grid.density for h in feed.heat(12.0)] == [(2.0, None)]
    thumb = feed.frame("C1")
    assert thumb is not None and (thumb.at, thumb.received_at) == (100.0, 10.0)  # kept until a newer frame
    assert feed.heat(12.0 + 15.1) == ()
