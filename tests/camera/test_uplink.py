"""A camera is offline-safe like a gate: reports wait in its journal (private file) while the
server is away, are replayed in order when it is back, and a replay never counts twice."""

from __future__ import annotations

import asyncio
import os
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from support import AckingServer, Server, running, wait_for

from camera.errors import UplinkRefused
from camera.journal import CameraJournal
from camera.uplink import CameraUplink, wrong_welcome
from command.appkeys import SERVICE
from command.db.embedded import free_port
from eventguard.config import Venue, load_venue
from eventguard.wire import (
    MAX_CAMERA_ITEMS,
    MAX_MESSAGE_BYTES,
    CameraLive,
    CameraReport,
    DensityCells,
    LineTransfer,
    Welcome,
    ZoneEstimate,
    decode_from_camera,
    encode,
)
from sim import crowdscene as scenes


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    return load_venue(scenes.venue_toml(tmp_path / "venue.toml"))


def report(moved: int) -> CameraReport:
    return CameraReport(report_id=f"C1-{uuid.uuid4().hex}", camera_id="C1", at=time.time(), interval_s=1.0,
                        zones=(ZoneEstimate(zone_id="hall", count=10.0, density=10 / 96, area_m2=96.0),),
                        transfers=(LineTransfer(line_id="L1", zone_from="foyer", zone_to="hall", count=moved),))


async def test_reports_wait_offline_then_replay_once(server: Server, tmp_path: Path) -> None:
    journal = CameraJournal(tmp_path / "cams" / "C1.sqlite")
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(journal.path.parent).st_mode) == 0o700
    io = ThreadPoolExecutor(1)
    for n in (1, 2, 3):
        journal.append(report(n))
    offline = CameraUplink(f"ws://127.0.0.1:{free_port()}/ws/camera", server.camera_tokens["C1"], journal, io,
                           camera_id="C1", event_id="crowd-test", retry_s=0.05)
    task = asyncio.create_task(offline.run())
    await asyncio.sleep(0.3)
    assert journal.pending() == 3 and not offline.connected.is_set()
    task.cancel()
    online = CameraUplink(f"{server.ws_url}/ws/camera", server.camera_tokens["C1"], journal, io,
                          camera_id="C1", event_id="crowd-test")
    for left in (1.0, 2.0):  # live pictures are not journaled: only the newest waits for the link
        online.offer_live(CameraLive(camera_id="C1", at=time.time(), grid=DensityCells(
            x0=2, y0=8, cell_w=8, cell_h=6, cols=2, rows=1, density=(left, None))))
    task = asyncio.create_task(online.run())
    await wait_for(lambda: journal.pending() == 0, within=10)
    feed = server.app[SERVICE].camera_feed
    await wait_for(lambda: feed.heat(time.time()) != (), within=5)
    assert [h.grid.density for h in feed.heat(time.time())] == [(2.0, None)] and online.live_sent == 1
    # an ack lost on the way back: the camera resends everything; the server counts it once
    journal._db.execute("UPDATE reports SET acked = 0")
    online.notify()
    await wait_for(lambda: journal.pending() == 0, within=10)
    task.cancel()
    conn = await asyncpg.connect(server.db_url)
    try:
        assert await conn.fetchval("SELECT transfers_in FROM zone_counters WHERE zone_id = 'hall'") == 6
        assert await conn.fetchval("SELECT count(*) FROM camera_reports") == 3
    finally:
        await conn.close()
    journal.close()
    io.shutdown()


async def test_a_refused_token_stops_the_uplink(server: Server, tmp_path: Path) -> None:
    journal = CameraJournal(tmp_path / "C1.sqlite")
    io = ThreadPoolExecutor(1)
    up = CameraUplink(f"{server.ws_url}/ws/camera", server.gate_tokens["G1"], journal, io,
                      camera_id="C1", event_id="crowd-test")
    with pytest.raises(UplinkRefused, match=r"refused this camera's token \(HTTP 403\)"):
        await asyncio.wait_for(up.run(), 10)
    journal.close()
    io.shutdown()


def crowded_report(n: int) -> CameraReport:
    """A report of a camera over as many zones and lines as a report may carry (about 9 kB)."""
    zones = tuple(ZoneEstimate(zone_id=f"zone-{z:02d}", count=10.5, density=0.109375, area_m2=96.0)
                  for z in range(MAX_CAMERA_ITEMS))
    lines = tuple(LineTransfer(line_id=f"line-{z:02d}", zone_from=f"zone-{z:02d}", zone_to=f"zone-{z + 1:02d}",
                               count=3) for z in range(MAX_CAMERA_ITEMS))
    return CameraReport(report_id=f"C1-{n:04d}", camera_id="C1", at=1000.0 + n, interval_s=1.0,
                        zones=zones, transfers=lines)


async def test_a_backlog_of_large_reports_goes_up_in_batches_the_server_accepts(tmp_path: Path) -> None:
    """200 reports of 9 kB make a 1.8 MB batch, twice the server's message limit: the server
    closed the link on it, the camera resent it on the next, and the journal never drained.
    Batches are cut to half the limit, as a gate's are."""
    journal = CameraJournal(tmp_path / "C1.sqlite")
    io = ThreadPoolExecutor(1)
    for n in range(200):
        journal.append(crowded_report(n))
    async with AckingServer("C1", lambda raw: decode_from_camera(raw)[0]) as server:
        up = CameraUplink(server.url, "token", journal, io, camera_id="C1", event_id="crowd-test", retry_s=0.05)
        async with running(up):
            await wait_for(lambda: journal.pending() == 0, within=10)
    io.shutdown()
    journal.close()
    sizes = [len(encode(b)) for b in server.batches]
    assert len(server.batches) > 1 and max(sizes) <= MAX_MESSAGE_BYTES // 2, sizes
    assert [r.report_id for b in server.batches for r in b.reports] == [f"C1-{n:04d}" for n in range(200)]


@pytest.mark.parametrize(("subject", "event_id", "refusal"), [
    ("C1", "crowd-test", None),
    ("C1", "", None),  # a server that does not say its event
    ("C2", "crowd-test", "the token in use belongs to 'C2', not camera 'C1': eventguard cameras token C1"),
    ("C1", "other", "the command server at ws://h:1/ws/camera serves event 'other', this camera is "
                    "configured for 'crowd-test'"),
])
def test_a_welcome_for_another_camera_or_event_stops_the_camera(subject: str, event_id: str,
                                                                refusal: str | None) -> None:
    welcome = Welcome(subject=subject, role="camera", server_time=0.0, event_id=event_id)
    assert wrong_welcome(welcome, url="ws://h:1/ws/camera", camera_id="C1", event_id="crowd-test") == refusal
