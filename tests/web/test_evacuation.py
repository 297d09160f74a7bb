"""Issue 20 done-when (evacuation), in the browser on the real server: a commander declares an
evacuation of the north concourse in two steps on the live map; it reaches a real gate app's
terminal (banner) through the list sync, the gate lets a person out with no ticket and refuses an
entry with a valid one; a unit's responder page shows the broadcast; the map shows the egress
route, the simulator's clearance time and progress as occupancy falls; the commander ends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web
from playwright.async_api import expect
from support import ARTIFACTS, Server, send_entries, start_gate, ticket_png

from command.db.embedded import free_port
from command.evacuation_api import EVACUATION
from sim.evacuation_model import VenueClearance

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def _errors(page: Any, into: list[str]) -> Any:
    """Collect the page's script errors and console errors (CSP violations among them)."""
    page.on("pageerror", lambda exc: into.append(str(exc)))
    page.on("console", lambda m: into.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    return page


async def test_an_evacuation_declared_on_the_map_reaches_a_gate_terminal_and_a_responder(
        browser: Any, server: Server, tmp_path: Path) -> None:
    from gate.app import TerminalConfig, create_gate_app

    server.app[EVACUATION].model = VenueClearance(server.venue)  # as `eventguard serve` passes it in
    token = await server.login("commander")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.post(f"{server.url}/api/units/new", json={"id": "ST-1", "kind": "steward", "name": "Stewards 1",
                                                                "home_zone": "bowl"}) as r:
            assert r.status == 201
        async with s.post(f"{server.url}/api/units/ST-1/token") as r:
            link = (await r.json())["link"]
    await send_entries(server, "N1", 30)  # 30 people in the north concourse
    _, ticket = await ticket_png(server, tmp_path, None)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))

    gate = await start_gate(server, "N1", tmp_path, start=False)
    runner = web.AppRunner(create_gate_app(gate, TerminalConfig(token="terminal-secret")), shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        errors: list[str] = []
        terminal = _errors(await browser.new_page(viewport={"width": 1280, "height": 800}), errors)
        await terminal.goto(f"http://127.0.0.1:{port}/?token=terminal-secret&gate=N1")
        await expect(terminal.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(terminal.locator("#evacuation")).to_be_hidden()

        chief_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        chief = _errors(await chief_ctx.new_page(), errors)
        chief.on("dialog", lambda d: d.accept())
        await chief.goto(server.url + "/")
        await chief.fill("#login-username", "commander")
        await chief.fill("#login-password", server.passwords["commander"])
        await chief.click("#login-submit")
        await chief.locator("#conn[data-state=live]").wait_for(timeout=15_000)
        # an operator's map elsewhere: it learns of the evacuation only by push (no poll)
        watch_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        watch = _errors(await watch_ctx.new_page(), errors)
        reads: list[str] = []
        watch.on("request", lambda r: reads.append(r.url) if r.url.endswith("/api/evacuation") else None)
        await watch.goto(server.url + "/")
        await watch.fill("#login-username", "operator")
        await watch.fill("#login-password", server.passwords["operator"])
        await watch.click("#login-submit")
        await watch.locator("#conn[data-state=live]").wait_for(timeout=15_000)
        await expect(watch.locator("#evac-banner")).to_be_hidden()

        # two steps: choose and prepare, then confirm what the server says it covers
        await chief.click("#evac-open")
        await chief.click("#evac-prepare")
        await expect(chief.locator("#evac-error")).to_contain_text("Choose zones")
        await chief.check("#evac-zones input[data-zone=north]")
        await chief.fill("#evac-note", "Smoke in the north concourse")
        await chief.click("#evac-prepare")
        await expect(chief.locator("#evac-summary")).to_contain_text("zone(s) north: gate(s) N1, N2 switch to free exit")
        assert not gate.cache.evacuating  # nothing happens before the second step
        await watch.wait_for_timeout(300)  # the reads of the load and the snapshot are done
        read_before = len(reads)
        await chief.click("#evac-confirm")
        await expect(chief.locator("#evac-banner")).to_contain_text("EVACUATION of north")
        # pushed through the hub, the feed and the replica: well before any 3 s poll could have
        await expect(watch.locator("#evac-banner")).to_contain_text("Smoke in the north concourse", timeout=1_500)
        assert len(reads) == read_before, "the banner came from a read, not a push"
        await expect(chief.locator("#evac-banner")).to_contain_text("Free exit at N1, N2")
        row = chief.locator("#evac-zones-table tr[data-zone=north]")
        await expect(row.locator("[data-field=now]")).to_have_text("30")
        await expect(row.locator("[data-field=clearance]")).to_contain_text(" s")
        await expect(chief.locator("#evac-model")).to_contain_text("sim/flow.py")
        await expect(chief.locator("#map polyline[data-egress='north:N1']")).to_have_count(1)

        # the gate terminal shows the broadcast; an exit needs no ticket, an entry is refused
        await expect(terminal.locator("#evacuation")).to_be_visible()
        await expect(terminal.locator("#evacuation-note")).to_have_text("Smoke in the north concourse")
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer terminal-secret"}) as s:
            async def scan(path: Path, direction: str) -> dict[str, Any]:
                async with s.post(f"http://127.0.0.1:{port}/scan?lane=0&direction={direction}",
                                  data=path.read_bytes(), headers={"Content-Type": "image/png"}) as r:
                    assert r.status == 200, await r.text()
                    out: dict[str, Any] = await r.json()
                    return out
            out = await scan(blank, "exit")
            assert (out["verdict"], out["reasons"]) == ("admit", ["free_exit"])
            await expect(terminal.locator("#reasons li")).to_contain_text(["Evacuation — free exit, no ticket check"])
            refused = await scan(ticket, "entry")
            assert (refused["verdict"], refused["reasons"]) == ("deny", ["evacuation"])
            await expect(terminal.locator("#reasons li")).to_contain_text(["Evacuation — no entry"])
        ARTIFACTS.mkdir(exist_ok=True)
        await terminal.screenshot(path=str(ARTIFACTS / "gate-evacuation.png"))

        # progress as occupancy falls (the exit went up the uplink like every event)
        await expect(row.locator("[data-field=now]")).to_have_text("29", timeout=15_000)
        await expect(row.locator("[data-field=progress]")).to_contain_text("3 %")
        await expect(watch.locator("#evac-zones-table tr[data-zone=north] [data-field=now]")).to_have_text("29")
        await chief.screenshot(path=str(ARTIFACTS / "map-evacuation.png"), full_page=True)

        # the responder's phone shows the broadcast
        phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone = _errors(await phone_ctx.new_page(), errors)
        await phone.goto(server.url + link)
        await expect(phone.locator("#evacuation")).to_contain_text("EVACUATION of north — Smoke in the north concourse")
        await phone.screenshot(path=str(ARTIFACTS / "responder-evacuation.png"))

        # the commander ends it: banners go, the gate checks tickets again
        await chief.click("#evac-end")
        await expect(chief.locator("#evac-banner")).to_be_hidden()
        await expect(watch.locator("#evac-banner")).to_be_hidden(timeout=1_500)
        assert len(reads) == read_before  # the whole evacuation reached the operator's map by push
        await expect(terminal.locator("#evacuation")).to_be_hidden()
        await expect(phone.locator("#evacuation")).to_be_hidden()
        assert not gate.cache.evacuating
        assert errors == []
        await phone_ctx.close()
        await chief_ctx.close()
        await watch_ctx.close()
        await terminal.close()
    finally:
        await runner.cleanup()
