"""The commander closes and reopens entry and counts everyone out from the live map (real server,
real gate service learning it through the sync); other roles do not see the controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, start_gate, ticket_png, wait_for

from vision.image import read_file

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


async def _login(browser: Any, server: Server, who: str) -> Any:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(server.url + "/")
    await page.fill("#login-username", who)
    await page.fill("#login-password", server.passwords[who])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=15_000)
    return page


async def test_commander_closes_and_reopens_entry_and_counts_everyone_out(browser: Any, server: Server,
                                                                        tmp_path: Path) -> None:
    gate = await start_gate(server, "N1", tmp_path)
    try:
        ticket_id, png = await ticket_png(server, tmp_path, None)
        assert (await gate.scan(read_file(png))).decision.verdict == "admit"
        page = await _login(browser, server, "commander")
        dialogs: list[str] = []

        async def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await expect(page.locator("#entry-state")).to_be_hidden()
        await page.click("#entry-toggle")
        await expect(page.locator("#entry-state")).to_be_visible()
        await expect(page.locator("#entry-toggle")).to_have_text("Reopen entry…")
        assert dialogs and "Close entry at every gate?" in dialogs[-1]
        await wait_for(lambda: not gate.cache.entry_open, within=10)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "map-entry-closed.png"))
        _, late = await ticket_png(server, tmp_path, None)
        refused = await gate.scan(read_file(late))
        assert refused.decision.verdict == "deny" and "entry_closed" in refused.event.reasons

        await page.click("#entry-toggle")
        await expect(page.locator("#entry-state")).to_be_hidden()
        await wait_for(lambda: gate.cache.entry_open, within=10)

        await page.click("#presence-reset")
        await expect(page.locator("#toast")).to_contain_text("1 tickets counted out")
        await wait_for(lambda: not gate.cache.presence[ticket_id].inside, within=10)
        await page.close()
    finally:
        await gate.stop()


async def test_other_roles_do_not_see_the_event_controls(browser: Any, server: Server) -> None:
    for who in ("operator", "viewer"):
        page = await _login(browser, server, who)
        await expect(page.locator("#entry-toggle")).to_be_hidden()
        await expect(page.locator("#presence-reset")).to_be_hidden()
        await page.close()
