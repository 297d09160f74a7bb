"""The live map page in headless chromium against a real command server and real gates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, send_entries, start_gate, ticket_png

from vision.image import read_file

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


async def open_map(browser: Any, server: Server, username: str) -> tuple[Any, list[str]]:
    """A page logged in through the form; returns it with the list of page errors seen."""
    page = await browser.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    await page.goto(server.url + "/")
    await page.locator("#login-form").wait_for(state="visible", timeout=TIMEOUT_MS)
    await page.fill("#login-username", username)
    await page.fill("#login-password", server.passwords[username])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
    return page, errors


async def zone_text(page: Any, zone: str) -> str:
    text: str = await page.locator(f'[data-zone-stats="{zone}"]').text_content()
    return text


async def test_viewer_sees_the_plan_but_cannot_act(browser: Any, server: Server) -> None:
    page, errors = await open_map(browser, server, "viewer")
    zones = page.locator("#map polygon[data-zone]")
    await zones.first.wait_for(timeout=TIMEOUT_MS)
    assert sorted(await zones.evaluate_all("els => els.map(e => e.dataset.zone)")) == ["bowl", "north", "south"]
    await expect(page.locator('[data-zone-stats="north"]')).to_have_text(re.compile(r"^0/150 "))
    assert await page.locator("#gates tbody tr").count() == 3
    assert await page.locator("#map circle[data-gate]").count() == 3
    assert await page.text_content("#who") == "viewer (viewer)"
    assert not await page.locator("#dispatch-open").is_visible()
    # a density alert appears for the viewer too, but without acknowledge/resolve buttons
    await send_entries(server, "N2", 125)
    alert = page.locator("#alerts li.alert").first
    await alert.wait_for(timeout=TIMEOUT_MS)
    assert await alert.locator("button").evaluate_all("bs => bs.filter(b => b.offsetParent).length") == 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-map-viewer.png"), full_page=True)
    assert errors == []


async def test_gate_entry_changes_count_then_colour_and_alert_is_acknowledged(
        browser: Any, server: Server, tmp_path: Path) -> None:
    page, errors = await open_map(browser, server, "commander")
    north = page.locator('#map polygon[data-zone="north"]')
    await north.wait_for(timeout=TIMEOUT_MS)
    assert await north.get_attribute("data-los") == "A"
    fill_a = await north.evaluate("e => getComputedStyle(e).fill")
    # one real scan at gate N1 (PNG ticket -> QR -> verdict -> uplink -> command -> page)
    gate = await start_gate(server, "N1", tmp_path)
    try:
        result = await gate.scan(read_file((await ticket_png(server, tmp_path, "N1"))[1]), lane=0)
        assert result.decision.verdict == "admit", result.decision.reasons
        await expect(page.locator('[data-zone-stats="north"]')).to_have_text(re.compile(r"^1/150 "))
    finally:
        await gate.stop()
    # a crowd through N2 pushes the north concourse (60 m²) over 2 p/m²: walkway LOS E, density alert
    await send_entries(server, "N2", 124)
    await expect(page.locator('[data-zone-stats="north"]')).to_have_text(re.compile(r"^125/150 "))
    assert await north.get_attribute("data-los") == "E"
    assert await north.evaluate("e => getComputedStyle(e).fill") != fill_a
    row = page.locator('#gates tr[data-gate-row="N2"] td')
    assert await row.nth(3).text_content() == "124"
    alert = page.locator("#alerts li.alert").first
    await alert.wait_for(timeout=TIMEOUT_MS)
    assert "north" in (await alert.text_content() or "")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-map.png"), full_page=True)
    await alert.locator("button[data-action=ack]").click()
    await expect(alert).to_have_class(re.compile(r"\bstatus-acknowledged\b"))
    assert errors == []


async def test_commander_dispatches_a_unit(browser: Any, server: Server) -> None:
    token = await server.login("commander")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s, s.post(
            f"{server.url}/api/units", json={"id": "st-7", "kind": "steward", "name": "Steward 7"}) as r:
        assert r.status == 200, await r.text()
    page, errors = await open_map(browser, server, "commander")
    await page.click("#dispatch-open")
    await page.locator("#dispatch").wait_for(state="visible", timeout=TIMEOUT_MS)
    await page.select_option("#dispatch-kind", "dispatch")
    await page.select_option("#dispatch-target", "st-7")
    await page.select_option("#dispatch-location", "bowl")
    await page.fill("#dispatch-note", "check the north stairs")
    await page.click("#dispatch-send")
    await page.locator("#dispatch").wait_for(state="hidden", timeout=TIMEOUT_MS)
    order = page.locator("#orders li").first
    await order.wait_for(timeout=TIMEOUT_MS)
    assert "dispatch st-7" in (await order.text_content() or "")
    # a gate order to an unknown lane target is refused by the server and the error is shown
    await page.click("#dispatch-open")
    await page.select_option("#dispatch-kind", "dispatch")
    await page.evaluate("document.querySelector('#dispatch-target').append(new Option('ghost', 'ghost'))")
    await page.select_option("#dispatch-target", "ghost")
    await page.click("#dispatch-send")
    await expect(page.locator("#dispatch-error")).to_contain_text("Not sent")
    assert await page.locator("#dispatch").is_visible()
    assert errors == []
