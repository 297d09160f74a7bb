"""The wall map (issue 20) in headless chromium against a real command server and its fan-out
replica: the venue's plan picture under the zones, units drawn where they are, and charts — per
zone and per gate — that keep their history across a reload (the server keeps it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, send_entries, start_gate, ticket_png

from vision.image import read_file

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000


async def sign_in(browser: Any, server: Server) -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    await page.goto(server.url + "/")
    await page.locator("#login-form").wait_for(state="visible", timeout=TIMEOUT_MS)
    await page.fill("#login-username", "commander")
    await page.fill("#login-password", server.passwords["commander"])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
    return page, errors


async def label_fits(page: Any) -> None:
    """A gate's label on the plan is readable and no larger than a line of text: at least the
    13 px the plan keeps labels to, at most 40 px high on screen."""
    label = page.locator('#map [data-gate-label="N1"]')
    await label.wait_for(state="attached", timeout=TIMEOUT_MS)
    height = await label.evaluate("e => e.getBoundingClientRect().height")
    assert 13 <= height <= 40, height


async def test_plan_picture_units_and_chart_history_across_a_reload(browser: Any, server: Server) -> None:
    page, errors = await sign_in(browser, server)
    # the demo venue's plan picture (demo.toml's [plan]) lies under the zones, placed in metres by
    # the venue file's georeference
    bg = page.locator("#map image.plan-bg")
    await bg.wait_for(state="attached", timeout=TIMEOUT_MS)
    box = await bg.evaluate("e => { const b = e.getBBox(); return [b.width, b.height]; }")
    assert box == [800, 840]  # in pixels, before its matrix (20 px per metre: 40 x 42 m)
    assert await page.evaluate("fetch('/api/plan/image').then(r => r.status)") == 200
    await label_fits(page)
    # a unit with a position is drawn on the plan
    token = await server.login("commander")
    async with aiohttp.ClientSession() as s, s.post(
            f"{server.url}/api/units", json={"id": "M1", "kind": "medic", "name": "Medic 1", "x": 20, "y": 20},
            headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
    await page.locator('#map [data-unit="M1"]').wait_for(state="attached", timeout=TIMEOUT_MS)
    # crowd through N1; the server samples every 2 s
    await send_entries(server, "N1", 40)
    chart = page.locator('canvas[data-chart="north"]')
    await page.wait_for_function(
        "() => Number(document.querySelector('canvas[data-chart=north]').dataset.points) >= 2", timeout=TIMEOUT_MS)
    await asyncio.sleep(2.0)  # at least one more sample by the server (every 2 s)
    reloaded_at = await page.evaluate("Date.now() / 1000")
    await page.reload()
    await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
    await chart.wait_for(timeout=TIMEOUT_MS)
    # after the reload the chart starts seconds before it, with the 40 people already in
    since = float(await chart.get_attribute("data-since") or "nan")
    assert since < reloaded_at - 2
    assert int(await chart.get_attribute("data-points") or 0) >= 3
    assert await page.locator("#map image.plan-bg").count() == 1
    await label_fits(page)  # the page was laid out after its labels were made: they were refitted
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "wall-map.png"), full_page=True)
    assert errors == []


# the blue (entries per minute) line of a gate chart drawn above its baseline: a rate above zero.
# The plot lies between the label rows (12 CSS px at the top and at the bottom of the canvas).
RATE_DRAWN = """(id) => {
  const c = document.querySelector(`canvas[data-gate-chart="${id}"]`);
  if (!c || !c.width) return false;
  const dpr = window.devicePixelRatio || 1;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  for (let y = Math.ceil(13 * dpr); y < c.height - (12 * dpr + 3); y++) {
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      if (Math.abs(d[i] - 0x4a) < 40 && Math.abs(d[i + 1] - 0xa3) < 40 && d[i + 2] > 200) return true;
    }
  }
  return false;
}"""


async def test_gate_charts_draw_real_scans_and_keep_them_across_a_reload(browser: Any, server: Server,
                                                                          tmp_path: Path) -> None:
    page, errors = await sign_in(browser, server)
    chart = page.locator('canvas[data-gate-chart="N1"]')
    await chart.wait_for(timeout=TIMEOUT_MS)  # every gate has its chart from the snapshot
    assert await page.locator("canvas[data-gate-chart]").count() == len(server.venue.gates)
    assert await chart.get_attribute("aria-label") == \
        "entries per minute and queue of North gate 1 over the last 10 minutes"
    gate = await start_gate(server, "N1", tmp_path)
    try:
        for _ in range(4):  # four people scan real QR tickets at N1 and are admitted
            _, png = await ticket_png(server, tmp_path, None)
            assert (await gate.scan(read_file(png))).decision.verdict == "admit"
        row = page.locator(".chart", has=chart)
        await page.wait_for_function(RATE_DRAWN, arg="N1", timeout=TIMEOUT_MS)
        await page.wait_for_function(
            "() => Number(document.querySelector('canvas[data-gate-chart=N1]').dataset.points) >= 2",
            timeout=TIMEOUT_MS)
        await expect(row).to_contain_text("4/min · queue 0", timeout=TIMEOUT_MS)  # the server's count, last minute
        assert not await page.evaluate(RATE_DRAWN, "S1")  # nobody scanned at S1: its line lies at zero
        await asyncio.sleep(2.5)  # the server samples every 2 s
        reloaded_at = await page.evaluate("Date.now() / 1000")
        await page.reload()
        await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
        await chart.wait_for(timeout=TIMEOUT_MS)
        await page.wait_for_function(RATE_DRAWN, arg="N1", timeout=TIMEOUT_MS)
        # the chart starts before the reload: the server's samples, with the scans in them
        since = float(await chart.get_attribute("data-since") or "nan")
        assert since < reloaded_at - 2
        assert int(await chart.get_attribute("data-points") or 0) >= 3
        ARTIFACTS.mkdir(exist_ok=True)
        await page.locator("#gate-charts").screenshot(path=str(ARTIFACTS / "wall-map-gate-charts.png"))
        assert errors == []
    finally:
        await gate.stop()
