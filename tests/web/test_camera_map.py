"""The live map shows a camera's density where the crowd stands and, on click, its latest frame
(real `eventguard camera run` process playing rendered frames into a real server and
PostgreSQL, headless chromium): 49 people stand in the left third of the hall; the heat cells
there are dense and those on the right empty; a commander clicking the camera sees its frame
(audited), a viewer is told frames are for commanders and operators."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import cv2
import numpy as np
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, wait_for

from camera import calibration
from camera.counting import AreaRegression
from command.appkeys import SERVICE
from eventguard.config import Venue, load_venue
from sim import crowdscene as scenes

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)
EG = [sys.executable, "-m", "shell.cli"]
LEFT = [(2.5 + 0.8 * i, 8.5 + 0.8 * j) for i in range(7) for j in range(7)]  # 49 people, x 2.5-7.3 m


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    """The crowd test venue (foyer with a gate, hall seen by camera C1), overriding conftest's."""
    v = load_venue(scenes.venue_toml(tmp_path / "venue.toml"))
    cam = v.cameras[0]  # and its count correction, as `camera calibrate` writes it beside the venue file
    calibration.calibration_path(tmp_path / "venue.toml", "C1").write_text(calibration.dump(calibration.Calibration(
        "C1", AreaRegression(1 / scenes.person_area_m2(jpeg=True)), cam.image_points, cam.venue_points, 1, 0.0, 0.0,
        "2026-12-01T00:00:00+00:00")))
    return v


async def _login(browser: Any, server: Server, who: str) -> Any:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(server.url + "/")
    await page.fill("#login-username", who)
    await page.fill("#login-password", server.passwords[who])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=15_000)
    return page


async def test_the_map_draws_camera_density_where_the_crowd_is_and_shows_the_frame(
        browser: Any, server: Server, tmp_path: Path) -> None:
    folder = scenes.Scene(frames=25 + 75, standing=LEFT, appear=25).write(tmp_path / "frames")
    token = tmp_path / "camera.token"
    token.write_text(server.camera_tokens["C1"] + "\n")
    page = await _login(browser, server, "commander")
    proc = await asyncio.create_subprocess_exec(
        *EG, "camera", "run", "--camera-id", "C1", "--source", str(folder), "--fps", "40", "--interval-s", "0.5",
        "--frame-every-s", "1", "--server", f"{server.ws_url}/ws/camera", "--venue", str(tmp_path / "venue.toml"),
        "--token-file", str(token), "--journal", str(tmp_path / "c1.sqlite"),
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}, stderr=asyncio.subprocess.PIPE)
    try:
        cells = page.locator("g[data-heat-camera=C1] rect.camera-heat-cell")
        await expect(cells.first).to_be_attached(timeout=20_000)
        feed = server.app[SERVICE].camera_feed
        heat_at = time.time()  # the crowd stood there before the first grid: later frames show it

        def frame_with_crowd() -> bool:
            thumb = feed.frame("C1")
            return thumb is not None and thumb.received_at > heat_at
        await wait_for(frame_with_crowd, within=10)
        thumb = cv2.imdecode(np.frombuffer(feed.frame("C1").jpeg, np.uint8), cv2.IMREAD_COLOR)
        saturated = (cv2.cvtColor(thumb, cv2.COLOR_BGR2HSV)[:, :, 1] > 100).mean()
        assert thumb.shape == (240, 320, 3) and saturated > 0.01  # the coloured people, not the grey floor
        drawn = await cells.evaluate_all(
            "rs => rs.map(r => [+r.getAttribute('x') + r.getAttribute('width') / 2, +r.getAttribute('data-density')])")
        left = [d for x, d in drawn if x < 8]
        right = [d for x, d in drawn if x > 10]
        assert len(drawn) == 48 and max(left) > 1.0 and max(right) < 0.1, drawn  # 8 x 6 cells over the hall
        weight = sum(d for _, d in drawn)
        assert 2.5 <= sum(x * d for x, d in drawn) / weight <= 7.5  # the heat's centre is the crowd's
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "map-camera-heat.png"))

        await page.click("rect[data-camera=C1]")
        frame = page.locator("#camera-frame[data-camera=C1]")
        await expect(frame).to_be_visible()
        await expect(page.locator("#camera-frame-info")).to_contain_text("this view is audited")
        assert await frame.evaluate("img => img.naturalWidth") == 320
        await page.screenshot(path=str(ARTIFACTS / "map-camera-frame.png"))
        await page.close()

        viewer = await _login(browser, server, "viewer")
        await expect(viewer.locator("g[data-heat-camera=C1] rect.camera-heat-cell").first).to_be_attached()
        await viewer.click("rect[data-camera=C1]")
        await expect(viewer.locator("#camera-frame-info")).to_contain_text("commanders and operators only")
        await expect(viewer.locator("#camera-frame")).to_be_hidden()
        await viewer.close()
    finally:
        if proc.returncode is None:
            proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert "count correction from" in err.decode()  # camera run read the calibration beside the venue file
    conn = await asyncpg.connect(server.db_url)
    try:
        views = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'camera_frame_view'")
    finally:
        await conn.close()
    assert views == 1
