"""Issue 20, in the browser on the real server: a unit's responder page gets its orders and the
evacuation by push on /ws/responder, never by polling. An order the commander sends from the live
map shows on the phone within 2 s (the page polled every 3 s before), its escalation raises the
overdue banner, a cancel from the map shows at once; a dropped socket reconnects and its snapshot
brings the order sent meanwhile, once; an evacuation declared and ended shows and goes by push.
The page never reads its orders or the evacuation over REST while its socket is up."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server

from command.appkeys import RESPONDERS, SERVICE

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)
PUSHED_MS = 2_000  # the old page polled every 3 s: it could take up to 3 s, and read every time


def _errors(page: Any, into: list[str]) -> Any:
    """Collect the page's script errors and console errors (CSP violations among them)."""
    page.on("pageerror", lambda exc: into.append(str(exc)))
    page.on("console", lambda m: into.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    return page


async def test_orders_and_the_evacuation_reach_the_responder_page_by_push(browser: Any, server: Server) -> None:
    chief_token = await server.login("commander")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {chief_token}"}) as rest:
        async def post(path: str, body: Any = None) -> Any:
            async with rest.post(f"{server.url}{path}", json=body) as r:
                assert r.status in (200, 201), await r.text()
                return await r.json()

        await post("/api/units/new", {"id": "ST-N", "kind": "steward", "name": "North stewards", "home_zone": "north"})
        link = (await post("/api/units/ST-N/token"))["link"]

        errors: list[str] = []
        chief_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        chief = _errors(await chief_ctx.new_page(), errors)
        chief.on("dialog", lambda d: d.accept())
        await chief.goto(server.url + "/")
        await chief.fill("#login-username", "commander")
        await chief.fill("#login-password", server.passwords["commander"])
        await chief.click("#login-submit")
        await chief.locator("#conn[data-state=live]").wait_for(timeout=15_000)

        phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone = _errors(await phone_ctx.new_page(), errors)
        reads: list[str] = []  # the page's REST reads of what the socket pushes
        phone.on("request", lambda r: reads.append(r.url) if r.url.endswith(
            ("/api/responder/orders", "/api/responder/evacuation")) else None)
        await phone.goto(server.url + link)
        await expect(phone.locator("#unit-name")).to_have_text("North stewards (steward)")
        await expect(phone.locator("#conn")).to_have_text("live")
        await expect(phone.locator("#orders-empty")).to_be_visible()
        # every state the connection badge shows, as the phone's user sees it
        await phone.evaluate("""() => { window.connStates = [];
            new MutationObserver(() => window.connStates.push(document.getElementById("conn").textContent))
              .observe(document.getElementById("conn"), { childList: true, characterData: true, subtree: true }); }""")

        # the commander dispatches the unit from the live map: the phone shows it within 2 s
        await chief.click("#dispatch-open")
        await chief.select_option("#dispatch-target", "ST-N")
        await chief.select_option("#dispatch-location", "north")
        await chief.fill("#dispatch-note", "Crowd pressing at N1")
        t0 = time.monotonic()
        await chief.click("#dispatch-send")
        first = phone.locator(".order[data-order='1']")
        await expect(first).to_contain_text("dispatch → north", timeout=PUSHED_MS)
        assert time.monotonic() - t0 < PUSHED_MS / 1000
        await expect(first).to_contain_text("Crowd pressing at N1")
        await expect(first).to_contain_text("sent")
        await expect(phone.locator("#status-now")).to_have_text("dispatched")  # the unit itself comes along
        assert reads == [], f"the page read over REST what the socket pushes: {reads}"

        # not acknowledged in time: escalated, and the phone shows the overdue banner by push
        server.app[SERVICE].order_ack_timeout_s = 0.2
        await expect(phone.locator("#banner")).to_have_text("Overdue: acknowledge order #1 now", timeout=3_000)
        server.app[SERVICE].order_ack_timeout_s = 60.0
        await expect(first).to_have_attribute("data-status", "escalated")

        # the socket drops (the server closes it): the page says so, reconnects, and its snapshot
        # brings the order sent while it was down, once
        socks = list(server.app[RESPONDERS].links.get("ST-N", ()))
        assert socks, "the page has no responder socket open"
        for sock in socks:
            await sock.ws.close(code=1012, message=b"restarting")
        await post("/api/orders", {"kind": "dispatch", "target": "ST-N", "location": "bowl"})
        second = phone.locator(".order[data-order='2']")
        await expect(second).to_contain_text("dispatch → bowl", timeout=PUSHED_MS + 2_000)
        await expect(phone.locator("#conn")).to_have_text("live")
        seen = await phone.evaluate("window.connStates")
        assert any(s.startswith("offline") for s in seen), seen
        await expect(phone.locator(".order")).to_have_count(2)

        # called off from the map: the phone shows it cancelled, nothing to acknowledge
        await chief.locator("#orders li[data-order='2'] [data-action=cancel]").click()
        await expect(second).to_have_attribute("data-status", "cancelled", timeout=PUSHED_MS)
        await expect(second).to_contain_text("Called off")
        await expect(second.locator("[data-action=ack]")).to_have_count(0)
        await expect(chief.locator("#orders li[data-order='2']")).to_contain_text("cancelled")

        # acknowledged on the phone: the banner goes, the map sees it
        await first.locator("[data-action=ack]").click()
        await expect(first).to_have_attribute("data-status", "acknowledged")
        await expect(phone.locator("#banner")).to_be_hidden()
        await expect(chief.locator("#orders li[data-order='1']")).to_contain_text("acknowledged")

        # an evacuation declared and ended by the commander shows and goes by push
        await expect(phone.locator("#evacuation")).to_be_hidden()
        prepared = await post("/api/evacuation/prepare", {"zones": ["north"], "note": "Smoke in the north concourse"})
        await post("/api/evacuation/declare", {"confirm": prepared["confirm"]})
        await expect(phone.locator("#evacuation")).to_contain_text(
            "EVACUATION of north — Smoke in the north concourse", timeout=PUSHED_MS)
        ARTIFACTS.mkdir(exist_ok=True)
        await phone.screenshot(path=str(ARTIFACTS / "responder-push.png"))
        await post("/api/evacuation/end")
        await expect(phone.locator("#evacuation")).to_be_hidden(timeout=PUSHED_MS)

        assert reads == [], f"the page read over REST what the socket pushes: {reads}"
        assert errors == []
        await phone_ctx.close()
        await chief_ctx.close()
