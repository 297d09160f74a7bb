"""The gate terminal page in headless chromium, served by the real gate app (gate/app.py)
whose GateService talks to the real command server; nothing is a stand-in."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import expect
from support import ARTIFACTS, start_gate, ticket_png

from command.db.embedded import free_port

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)
CSP = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:"


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve a gate app on a free loopback port."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def open_terminal(browser: Any, port: int) -> tuple[Any, list[str]]:
    """Open gate S1's terminal page, live and online; the page errors collected."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"http://127.0.0.1:{port}/?token=terminal-secret&gate=S1")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(page.locator("#offline")).to_be_hidden()
    return page, errors


async def send_gate_orders(commander: Any, server: Any, orders: tuple[tuple[str, str | None], ...]) -> None:
    """Sign in on the live map as commander and send gate S1 these orders (kind, lane) from its dialog."""
    await commander.goto(server.url + "/")
    await commander.fill("#login-username", "commander")
    await commander.fill("#login-password", server.passwords["commander"])
    await commander.click("#login-submit")
    await commander.locator("#conn[data-state=live]").wait_for(timeout=10_000)
    for kind, lane in orders:
        await commander.click("#dispatch-open")
        await commander.select_option("#dispatch-kind", kind)
        await commander.select_option("#dispatch-target", "S1")
        if lane is not None:
            await commander.fill("#dispatch-lane", lane)
        await commander.fill("#dispatch-note", f"{kind} from the command room")
        await commander.click("#dispatch-send")
        await commander.locator("#dispatch").wait_for(state="hidden", timeout=10_000)


async def test_real_gate_app_pushes_admit_deny_counters_and_offline_banner(
        browser: Any, server: Any, tmp_path: Any) -> None:
    """A PNG ticket posted to the real gate app shows ADMIT, the same ticket again DENY; the lane
    counters are the gate's own; cutting the gate's real uplink shows the offline banner with
    the number of journalled events, and healing it hides the banner again."""
    import aiohttp

    from gate.app import TerminalConfig, create_gate_app
    from shell.partition import PartitionProxy

    link = PartitionProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    await link.start()
    gate = await start_gate(server, "S1", tmp_path, start=False,  # the app starts and stops it
                            url=f"ws://127.0.0.1:{link.port}/ws/gate")
    runner, port = await serve(create_gate_app(gate, TerminalConfig(token="terminal-secret")))
    try:
        page, errors = await open_terminal(browser, port)
        png = (await ticket_png(server, tmp_path, "S1"))[1].read_bytes()
        box = page.locator("#verdict")
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer terminal-secret"}) as s:
            async def scan(body: bytes) -> dict[str, Any]:
                async with s.post(f"http://127.0.0.1:{port}/scan?lane=1", data=body,
                                  headers={"Content-Type": "image/png"}) as r:
                    assert r.status == 200, await r.text()
                    out: dict[str, Any] = await r.json()
                    return out

            assert (await scan(png))["verdict"] == "admit"
            await expect(box).to_have_attribute("data-verdict", "admit")
            await expect(page.locator("#verdict-word")).to_have_text("ADMIT")
            assert await box.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(26, 127, 55)"
            await expect(page.locator("#capture")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "gate-real-admit.png"))
            assert (await scan(png))["verdict"] == "deny"
            await expect(box).to_have_attribute("data-verdict", "deny")
            assert await box.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(179, 18, 46)"
            await expect(page.locator("#reasons li")).to_contain_text(["Ticket already used — holder is inside"])
            await expect(page.locator('[data-counter="1-entry"] b')).to_have_text("1")
            await expect(page.locator('[data-counter="1-deny"] b')).to_have_text("1")
            await page.screenshot(path=str(ARTIFACTS / "gate-real-deny.png"))

            # the gate's link to the command server is cut: it keeps deciding and journals
            link.cut()
            await expect(page.locator("#offline")).to_be_visible(timeout=30_000)
            other = (await ticket_png(server, tmp_path, "S1"))[1].read_bytes()
            assert (await scan(other))["verdict"] == "admit"
            await expect(page.locator("#offline-pending")).not_to_have_text("0")
            await page.screenshot(path=str(ARTIFACTS / "gate-offline.png"))
            link.restore()
            await expect(page.locator("#offline")).to_be_hidden(timeout=30_000)
            await expect(page.locator("#pending")).to_have_text("0", timeout=30_000)
        await page.close()
        assert errors == []
    finally:
        await runner.cleanup()
        await link.close()


async def test_order_from_the_map_reaches_the_gate_page_and_is_acknowledged(
        browser: Any, server: Any, tmp_path: Any) -> None:
    """Commander sends a divert and a lane closure from the live map; the real gate app shows the
    divert on its terminal page, staff acknowledge it there, and the map shows it acknowledged."""
    import random

    import asyncpg
    from aiohttp import web

    from command.steward_pins import issue_pin
    from gate.app import TerminalConfig, create_gate_app

    conn = await asyncpg.connect(server.db_url)
    try:
        pin = await issue_pin(conn, server.venue.event.id, "S1", "anna", random.Random(4))
    finally:
        await conn.close()
    gate = await start_gate(server, "S1", tmp_path, start=False)
    runner = web.AppRunner(create_gate_app(gate, TerminalConfig(token="terminal-secret")), shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        terminal = await browser.new_page(viewport={"width": 1280, "height": 800})
        await terminal.goto(f"http://127.0.0.1:{port}/?token=terminal-secret&gate=S1&by=mallory")
        await expect(terminal.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(terminal.locator("#offline")).to_be_hidden()  # the gate's uplink is up
        commander = await browser.new_page(viewport={"width": 1400, "height": 950})
        await send_gate_orders(commander, server, (("divert", None), ("close_lane", "1")))
        # the lane closure is carried out and acknowledged by the gate itself
        await expect(commander.locator("#orders li", has_text="close lane S1")).to_contain_text("acknowledged")
        assert 1 in gate.lanes_closed
        # the divert waits for a person at the lane
        divert = terminal.locator("#orders li", has_text="divert")
        await expect(divert).to_contain_text("divert from the command room")
        await divert.locator("button").click()  # nobody signed in: refused, the order stays open
        await expect(terminal.locator("#order-error")).to_contain_text("Sign in as a steward")
        await terminal.fill("#steward-name", "anna")  # the name on the ack comes from this session,
        await terminal.fill("#steward-pin", pin)  # not from the page (?by= is gone)
        await terminal.click("#steward-signin")
        await expect(terminal.locator("#steward-name-shown")).to_have_text("anna")
        await divert.locator("button").click()
        await expect(commander.locator("#orders li", has_text="divert S1")).to_contain_text("acknowledged")
        await terminal.screenshot(path=str(ARTIFACTS / "gate-order-acked.png"))
    finally:
        await runner.cleanup()

    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["kind"]: r["ack_by"] for r in await conn.fetch("SELECT kind, ack_by FROM orders")}
    finally:
        await conn.close()
    assert rows == {"divert": "steward:anna", "close_lane": "gate:S1"}


async def test_a_divert_called_off_from_the_map_leaves_the_gate_terminal(
        browser: Any, server: Any, tmp_path: Any) -> None:
    """Commander sends a divert from the live map; the real gate app's terminal shows it; Call off
    on the map takes it off the terminal at once (and off a terminal page opened afterwards).
    A lane closure offers no Call off: the opposite lane order undoes it."""
    from gate.app import TerminalConfig, create_gate_app

    gate = await start_gate(server, "S1", tmp_path, start=False)
    runner, port = await serve(create_gate_app(gate, TerminalConfig(token="terminal-secret")))
    try:
        terminal, errors = await open_terminal(browser, port)
        commander = await browser.new_page(viewport={"width": 1400, "height": 950})
        commander.on("dialog", lambda d: d.accept())
        await send_gate_orders(commander, server, (("close_lane", "1"), ("divert", None)))
        lane = commander.locator("#orders li", has_text="close lane S1")
        await expect(lane).to_contain_text("acknowledged")
        await expect(lane.locator("[data-action=cancel]")).to_be_hidden()
        divert = terminal.locator("#orders li", has_text="divert from the command room")
        await expect(divert).to_be_visible()
        await expect(terminal.locator("#orders-empty")).to_be_hidden()
        on_map = commander.locator("#orders li", has_text="divert S1")
        await on_map.locator("[data-action=cancel]").click()
        await expect(on_map).to_contain_text("cancelled")
        await expect(divert).to_have_count(0)
        await expect(terminal.locator("#orders-empty")).to_be_visible()
        await terminal.screenshot(path=str(ARTIFACTS / "gate-order-called-off.png"))
        await terminal.reload()
        await expect(terminal.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(terminal.locator("#orders li")).to_have_count(0)
        assert errors == []
    finally:
        await runner.cleanup()
