"""The gate terminal page in headless chromium.

gate/app.py (the gate's own web app with /ws/terminal) is not in the tree yet, so the page is
served here by a minimal aiohttp app on loopback that speaks the agreed terminal messages
(`terminal_verdict`, `terminal_status`, `order`) with the same CSP as the real servers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from PIL import Image
from playwright.async_api import expect
from support import ARTIFACTS, start_gate, ticket_png

from command.db.embedded import free_port
from eventguard.settings import WEB_DIR

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)
CSP = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:"


def thumb(colour: tuple[int, int, int]) -> str:
    """A small JPEG data URL, like the gate's capture and registered thumbnails."""
    buf = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buf, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Terminal:
    """The stand-in gate app: pushes messages to the page, records what the page sends."""

    url: str
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def terminal() -> AsyncIterator[Terminal]:
    port = free_port()
    term = Terminal(url=f"http://127.0.0.1:{port}")

    @web.middleware
    async def csp(request: web.Request, handler: Any) -> web.StreamResponse:
        resp: web.StreamResponse = await handler(request)
        resp.headers["Content-Security-Policy"] = CSP
        return resp

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "gate.html")

    async def ws_terminal(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def pump() -> None:
            while True:
                await ws.send_str(json.dumps(await term.outbox.get()))

        task = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await term.received.put(json.loads(msg.data))
        finally:
            task.cancel()
        return ws

    app = web.Application(middlewares=[csp])
    app.router.add_get("/", page)
    app.router.add_get("/ws/terminal", ws_terminal)
    app.router.add_static("/static/", WEB_DIR)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield term
    finally:
        await runner.cleanup()


def verdict(v: str, reasons: list[str], **kw: Any) -> dict[str, Any]:
    return {"type": "terminal_verdict", "gate_id": "N1", "verdict": v, "reasons": reasons, "lane": 1,
            "ticket_id": "T-123", "holder": "Ada Lovelace", "face_distance": 0.31,
            "capture": thumb((200, 120, 90)), "registered": thumb((90, 120, 200)),
            "counters": {"admitted": 12, "denied": 2, "secondary": 1}, "online": True, "pending": 0, **kw}


async def test_verdicts_counters_orders_and_offline_banner(browser: Any, terminal: Terminal) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(terminal.url + "/?gate=N1")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    box = page.locator("#verdict")

    await terminal.outbox.put(verdict("admit", ["ticket_valid", "face_match"]))
    await expect(box).to_have_attribute("data-verdict", "admit")
    await expect(page.locator("#verdict-word")).to_have_text("ADMIT")
    await expect(page.locator("#holder")).to_have_text("Ada Lovelace")
    assert await box.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(26, 127, 55)"
    assert await page.locator("#capture").is_visible() and await page.locator("#registered").is_visible()
    await expect(page.locator('[data-counter="admitted"] b')).to_have_text("12")
    await expect(page.locator("#offline")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "gate-admit.png"))

    await terminal.outbox.put(verdict("deny", ["ticket_revoked", "already_inside"],
                                      counters={"admitted": 12, "denied": 3, "secondary": 1}))
    await expect(box).to_have_attribute("data-verdict", "deny")
    await expect(page.locator("#reasons li")).to_have_text(["Ticket cancelled",
                                                            "Ticket already used — holder is inside"])
    assert await box.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(179, 18, 46)"
    await expect(page.locator('[data-counter="denied"] b')).to_have_text("3")
    await page.screenshot(path=str(ARTIFACTS / "gate-deny.png"))

    await terminal.outbox.put(verdict("secondary", ["ticket_valid", "face_mismatch", "watchlist_detain"],
                                      capture=None))
    await expect(box).to_have_attribute("data-verdict", "secondary")
    await expect(page.locator("#verdict-word")).to_have_text("CHECK")
    await expect(page.locator("#reasons li")).to_have_text([
        "Face does not match the ticket holder", "Hold — supervisor to the lane now"])
    await expect(page.locator("#capture")).to_be_hidden()

    # an order from command: shown, acknowledged over the terminal socket, then marked done
    await terminal.outbox.put({"type": "order", "order_id": 7, "kind": "close_lane", "target": "N1",
                               "params": {"lane": 2}, "note": "crowd at north", "status": "sent"})
    order = page.locator('#orders li[data-order="7"]')
    await expect(order).to_contain_text("Close lane 2 — crowd at north")
    await order.locator("button").click()
    ack = await asyncio.wait_for(terminal.received.get(), 5)
    assert ack["type"] == "order_ack" and ack["order_id"] == 7
    await terminal.outbox.put({"type": "order", "order_id": 7, "kind": "close_lane", "target": "N1",
                               "params": {"lane": 2}, "note": "crowd at north", "status": "acknowledged"})
    await expect(order).to_have_class(re.compile(r"\backed\b"))
    await expect(order.locator("button")).to_be_hidden()

    # uplink down: the banner shows with the number of journalled events
    await terminal.outbox.put({"type": "terminal_status", "online": False, "pending": 4})
    await expect(page.locator("#offline")).to_be_visible()
    await expect(page.locator("#offline-pending")).to_have_text("4")
    await page.screenshot(path=str(ARTIFACTS / "gate-offline.png"))
    await terminal.outbox.put({"type": "terminal_status", "online": True, "pending": 0})
    await expect(page.locator("#offline")).to_be_hidden()
    await page.close()
    assert errors == []


async def test_real_gate_app_pushes_admit_then_deny(browser: Any, server: Any, tmp_path: Any) -> None:
    """A PNG ticket posted to the real gate app shows ADMIT, the same ticket again DENY."""
    from gate.app import TerminalConfig, create_gate_app

    gate = await start_gate(server, "S1", tmp_path, start=False)  # the app starts and stops it
    app = create_gate_app(gate, TerminalConfig(token="terminal-secret"))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"http://127.0.0.1:{port}/?token=terminal-secret&gate=S1")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        png = (await ticket_png(server, tmp_path, "S1"))[1].read_bytes()
        import aiohttp

        async with aiohttp.ClientSession(headers={"Authorization": "Bearer terminal-secret"}) as s:
            for want in ("admit", "deny"):
                async with s.post(f"http://127.0.0.1:{port}/scan?lane=1", data=png,
                                  headers={"Content-Type": "image/png"}) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["verdict"] == want
                await expect(page.locator("#verdict")).to_have_attribute("data-verdict", want)
        await expect(page.locator("#reasons li")).to_contain_text(["Ticket already used — holder is inside"])
        await expect(page.locator("#capture")).to_be_visible()
        await expect(page.locator('[data-counter="1-entry"] b')).to_have_text("1")
        await expect(page.locator('[data-counter="1-deny"] b')).to_have_text("1")
        await page.screenshot(path=str(ARTIFACTS / "gate-real-deny.png"))
        await page.close()
        assert errors == []
    finally:
        await runner.cleanup()


async def test_order_from_the_map_reaches_the_gate_page_and_is_acknowledged(
        browser: Any, server: Any, tmp_path: Any) -> None:
    """Commander sends a divert and a lane closure from the live map; the real gate app shows the
    divert on its terminal page, staff acknowledge it there, and the map shows it acknowledged."""
    from aiohttp import web

    from gate.app import TerminalConfig, create_gate_app

    gate = await start_gate(server, "S1", tmp_path, start=False)
    runner = web.AppRunner(create_gate_app(gate, TerminalConfig(token="terminal-secret")), shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        terminal = await browser.new_page(viewport={"width": 1280, "height": 800})
        await terminal.goto(f"http://127.0.0.1:{port}/?token=terminal-secret&gate=S1&by=steward-anna")
        await expect(terminal.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(terminal.locator("#offline")).to_be_hidden()  # the gate's uplink is up
        commander = await browser.new_page(viewport={"width": 1400, "height": 950})
        await commander.goto(server.url + "/")
        await commander.fill("#login-username", "commander")
        await commander.fill("#login-password", server.passwords["commander"])
        await commander.click("#login-submit")
        await commander.locator("#conn[data-state=live]").wait_for(timeout=10_000)
        for kind, extra in (("divert", None), ("close_lane", "1")):
            await commander.click("#dispatch-open")
            await commander.select_option("#dispatch-kind", kind)
            await commander.select_option("#dispatch-target", "S1")
            if extra is not None:
                await commander.fill("#dispatch-lane", extra)
            await commander.fill("#dispatch-note", f"{kind} from the command room")
            await commander.click("#dispatch-send")
            await commander.locator("#dispatch").wait_for(state="hidden", timeout=10_000)
        # the lane closure is carried out and acknowledged by the gate itself
        await expect(commander.locator("#orders li", has_text="close lane S1")).to_contain_text("acknowledged")
        assert 1 in gate.lanes_closed
        # the divert waits for a person at the lane
        divert = terminal.locator("#orders li", has_text="divert")
        await expect(divert).to_contain_text("divert from the command room")
        await divert.locator("button").click()
        await expect(commander.locator("#orders li", has_text="divert S1")).to_contain_text("acknowledged")
        await terminal.screenshot(path=str(ARTIFACTS / "gate-order-acked.png"))
    finally:
        await runner.cleanup()
    import asyncpg

    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["kind"]: r["ack_by"] for r in await conn.fetch("SELECT kind, ack_by FROM orders")}
    finally:
        await conn.close()
    assert rows == {"divert": "terminal:steward-anna", "close_lane": "gate:S1"}
