"""Done-when of issue 18: a rendered frame folder with known people played through a real
`eventguard camera run` process into a real server and PostgreSQL; the hall (no gate) gets
the camera's density on the live map, its density alarm is raised and repeated, the counting
line moves people from the foyer into the hall, and gates vs cameras raise a data-quality
warning (the hall's counter only knows the six who crossed the line; the camera sees 46)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest
import websockets
from support import Server, wait_for

from command.appkeys import SERVICE
from command.crowdsense import QualityBound
from eventguard.codes import AlertKind
from eventguard.config import Venue, load_venue
from eventguard.wire import Snapshot, ZonesUpdate, decode_server_message
from sim import crowdscene as scenes

EG = [sys.executable, "-m", "shell.cli"]
STANDING, CROSSING = 40, 6


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    """The crowd test venue (foyer with a gate, hall seen by camera C1), overriding conftest's."""
    return load_venue(scenes.venue_toml(tmp_path / "venue.toml", person_area_m2=scenes.person_area_m2(jpeg=True),
                                        alarm_density=0.3, min_duration_s=0.5, repeat_s=1.5))


async def test_a_camera_process_gives_a_gateless_zone_density_alarms_and_transfers(
        server: Server, tmp_path: Path) -> None:
    walkers = scenes.traffic(forward=CROSSING, backward=0, first=30)
    frames = scenes.Scene(frames=25 + 60, standing=scenes.crowd(STANDING), appear=25, walkers=walkers)
    folder = frames.write(tmp_path / "frames")
    token = tmp_path / "camera.token"
    token.write_text(server.camera_tokens["C1"] + "\n")
    viewer = await server.login("viewer")
    service = server.app[SERVICE]
    service.quality_bound = QualityBound(hold_s=1.0)  # the server's setting, shortened for the test
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {viewer}"}) as live:
        assert isinstance(decode_server_message(await live.recv()), Snapshot)
        proc = await asyncio.create_subprocess_exec(
            *EG, "camera", "run", "--camera-id", "C1", "--source", str(folder), "--fps", "30",
            "--interval-s", "0.5", "--server", f"{server.ws_url}/ws/camera", "--venue", str(tmp_path / "venue.toml"),
            "--token-file", str(token), "--journal", str(tmp_path / "c1.sqlite"),
            env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}, stderr=asyncio.subprocess.PIPE)

        async def hall_from_cameras() -> bool:  # pushed through the hub to the live map
            msg = decode_server_message(await asyncio.wait_for(live.recv(), 10))
            return isinstance(msg, ZonesUpdate) and any(z.id == "hall" and z.source == "cameras" for z in msg.zones)

        await wait_for(hall_from_cameras, within=20)
        hall = service.zone_view("hall", service.clock())
        assert hall.density == pytest.approx(STANDING / 96, rel=0.15), hall

        def alarm_repeated() -> bool:
            a = service.book.get((AlertKind.CROWD_DENSITY, "hall"))
            return a is not None and int(a.details.get("repeats") or 0) >= 1
        await wait_for(alarm_repeated, within=15)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        await wait_for(lambda: (AlertKind.CAMERA_DISAGREEMENT, "hall") in service.book, within=10)
    conn = await asyncpg.connect(server.db_url)
    try:
        moved = await conn.fetch("SELECT zone_from, zone_to, sum(people)::int AS n FROM line_transfers GROUP BY 1, 2")
        counters = {r["zone_id"]: r["transfers_in"] - r["transfers_out"]
                    for r in await conn.fetch("SELECT * FROM zone_counters")}
        kinds = {r["kind"] for r in await conn.fetch("SELECT kind FROM alerts WHERE subject = 'hall'")}
    finally:
        await conn.close()
    assert [(r["zone_from"], r["zone_to"], r["n"]) for r in moved] == [("foyer", "hall", CROSSING)]
    assert counters == {"foyer": -CROSSING, "hall": CROSSING}
    assert {"crowd_density", "camera_disagreement"} <= kinds
    assert service.state.zones["hall"].occupancy == CROSSING
