"""The live map shows the twin's forecasts (issue 19): headless chromium against a real command
server with the twin beside it, the state driven by real gate events over /ws/gate."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, fill_bowl

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000


async def open_map(browser: Any, server: Server, username: str) -> tuple[Any, list[str]]:
    """A page logged in through the form; returns it with the page errors seen."""
    page = await browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    await page.goto(server.url + "/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", server.passwords[username])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
    return page, errors


async def test_forecasts_alerts_and_what_if_on_the_live_map(browser: Any, twin_server: Server) -> None:
    page, errors = await open_map(browser, twin_server, "commander")
    await fill_bowl(twin_server)
    bowl = page.locator('[data-forecast-zone="bowl"]')
    # the twin has run on the ingested state: 1,700 inside, the bowl full (2 P/m², its warning line)
    await expect(page.locator("#twin-status")).to_contain_text("1700 inside", timeout=TIMEOUT_MS)
    await expect(bowl.locator("td.fc")).to_have_count(3)
    await expect(bowl.locator("td.fc").last).to_have_attribute("data-level", "warning")
    await expect(bowl.locator("td.fc-cross")).to_have_text(re.compile(r"^warning in \d+ min$"))
    await expect(page.locator("#twin-status")).to_contain_text("sim.twin venue flow model")
    # the forecast alert, with its lead time
    await expect(page.locator("#alerts li.alert", has_text="forecast to reach warning density")
                 .first).to_be_visible()
    # what if both gates closed: beside the baseline, the bowl stays under its line
    await page.select_option("#whatif-kind", "close_gate")
    await page.select_option("#whatif-target", "S1")
    await page.click("#whatif-run")
    result = page.locator('#whatif-result [data-forecast-zone="bowl"]')
    await expect(result).to_contain_text("baseline +15: 2.00")
    await expect(page.locator("#whatif-result")).to_contain_text("with: close gate S1")
    # a reload gets the latest forecast by REST before the next push
    await page.reload()
    await page.locator("#conn[data-state=live]").wait_for(timeout=TIMEOUT_MS)
    await expect(page.locator('[data-forecast-zone="bowl"] td.fc')).to_have_count(3)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-map-twin.png"), full_page=True)
    assert errors == []
