"""The live map reconnects by itself when the command server goes away and comes back,
and resynchronises from the new snapshot (headless chromium, real server restarts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from support import Server, send_entries

from command import server
from command.db.embedded import free_port
from command.provision import DEMO_USERS, provision
from eventguard.settings import ServerSettings

pytestmark = pytest.mark.browser


async def test_map_reconnects_and_resyncs_after_a_server_restart(browser: Any, db_url: str, venue: Any,
                                                                 tmp_path: Path) -> None:
    prov = await provision(db_url, venue, tmp_path / "keys")
    port = free_port()
    settings = ServerSettings(port=port, database_url=db_url)
    runner = await server.start(settings, venue)
    srv = Server(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", db_url=db_url, venue=venue,
                 gate_tokens=prov.gate_tokens, passwords={u: p for u, (p, _) in DEMO_USERS.items()})
    try:
        page = await browser.new_page(viewport={"width": 1400, "height": 950})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(srv.url + "/")
        await page.fill("#login-username", "operator")
        await page.fill("#login-password", srv.passwords["operator"])
        await page.click("#login-submit")
        await page.locator("#conn[data-state=live]").wait_for(timeout=10_000)
        await send_entries(srv, "S1", 3)
        await expect(page.locator('[data-zone-stats="south"]')).to_have_text(re.compile(r"^3/200 "))
        # the server goes away: the page says so and keeps trying
        await runner.cleanup()
        await expect(page.locator("#conn")).not_to_have_attribute("data-state", "live", timeout=10_000)
        # it comes back (same database, same port); entries made meanwhile arrive by resync
        runner = await server.start(settings, venue)
        await send_entries(srv, "S1", 4)
        await page.locator("#conn[data-state=live]").wait_for(timeout=30_000)
        await expect(page.locator('[data-zone-stats="south"]')).to_have_text(re.compile(r"^7/200 "))
        assert errors == []
    finally:
        await runner.cleanup()
