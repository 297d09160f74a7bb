"""Issue 20 done-when (incidents board, alert to order), in the browser on the real server: a
density alert raised by real gate events proposes the order that carries out its suggestion
(meter inflow: close a lane at the feeding gate), one click prefills it, a real gate carries it out
and acknowledges, the alert is resolved and the audit view shows alert → order → ack → resolved
with times; an incident opened from the same alert, a unit assigned on its card, acknowledged on
the unit's responder page, closed with an outcome, the timeline showing every step; and an
incident opened at a spot clicked on the map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, send_entries, start_gate, wait_for

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def _errors(page: Any, into: list[str]) -> Any:
    """Collect the page's script errors and console errors (CSP violations among them)."""
    page.on("pageerror", lambda exc: into.append(str(exc)))
    page.on("console", lambda m: into.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    return page


async def _commander_page(browser: Any, server: Server, errors: list[str]) -> tuple[Any, Any]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = _errors(await ctx.new_page(), errors)
    await page.goto(server.url + "/")
    await page.fill("#login-username", "commander")
    await page.fill("#login-password", server.passwords["commander"])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=15_000)
    return ctx, page


async def test_an_incident_from_an_alert_is_assigned_acknowledged_closed_with_its_timeline(
        browser: Any, server: Server, tmp_path: Path) -> None:
    gate = await start_gate(server, "N1", tmp_path)
    try:
        await _board(browser, server, gate)
    finally:
        await gate.stop()


async def _board(browser: Any, server: Server, gate: Any) -> None:
    token = await server.login("commander")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for uid, kind, home in (("MED-1", "medic", "north"), ("MED-2", "medic", "south")):
            async with s.post(f"{server.url}/api/units/new", json={
                    "id": uid, "kind": kind, "name": f"Medic team {uid[-1]}", "home_zone": home}) as r:
                assert r.status == 201
        async with s.post(f"{server.url}/api/units/MED-1/token") as r:
            link = (await r.json())["link"]
    errors: list[str] = []
    ctx, page = await _commander_page(browser, server, errors)
    await expect(page.locator("#incidents-empty")).to_be_visible()

    # from a density alert raised by real gate events
    await send_entries(server, "N1", 140)
    alert = page.locator("li.alert", has_text="north").first
    await expect(alert).to_be_visible(timeout=15_000)
    # one click from the suggestion "slow admissions at N1" to its order, carried out by the gate
    await alert.locator("[data-action=propose]", has_text="Close lane 1 at N1").click()
    await expect(page.locator("#dispatch-kind")).to_have_value("close_lane")
    await expect(page.locator("#dispatch-target")).to_have_value("N1")
    await expect(page.locator("#dispatch-lane")).to_have_value("1")
    await expect(page.locator("#dispatch-note")).to_have_value(re.compile("meter inflow into north"))
    await page.click("#dispatch-send")
    await expect(page.locator("#orders li", has_text="close lane N1")).to_contain_text("acknowledged")
    await wait_for(lambda: 1 in gate.lanes_closed)
    await expect(alert.locator("[data-action=propose][data-kind=dispatch]")).to_contain_text("Dispatch MED-1 to north")

    await alert.locator("[data-action=incident]").click()
    await expect(page.locator("#incident-dialog")).to_be_visible()
    await expect(page.locator("#incident-location")).to_have_value("north")
    await expect(page.locator("#incident-where")).to_contain_text("from alert #")
    await page.select_option("#incident-kind", "medical")
    await page.click("#incident-create")
    card = page.locator("#incidents li.incident").first
    await expect(card).to_contain_text("medical (high) at north · open")
    await expect(card.locator(".timeline [data-step=created]")).to_be_visible()

    # assign the nearest medic (the proposal ranks MED-1 first: it is in the north concourse)
    await expect(card.locator("[data-field=unit]")).to_have_value("MED-1")
    await card.locator("[data-action=assign]").click()
    await expect(card.locator(".assigned")).to_contain_text("MED-1 sent")
    await expect(card.locator(".timeline [data-step=assigned]")).to_contain_text("dispatch MED-1 → north")

    # the medic's phone acknowledges and reports; the board follows live
    phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = _errors(await phone_ctx.new_page(), errors)
    await phone.goto(server.url + link)
    order = phone.locator(".order", has_text="dispatch → north")
    await order.locator("[data-action=ack]").click()
    await expect(order).to_contain_text("acknowledged")
    await expect(card.locator(".assigned")).to_contain_text("MED-1 acknowledged")
    await expect(card.locator(".timeline [data-step=acknowledged]")).to_contain_text("(MED-1)")

    # a note, then close with an outcome (none chosen: refused in the page)
    await card.locator("[data-field=note]").fill("patient conscious, walking")
    await card.locator("[data-action=note]").click()
    await expect(card.locator(".timeline [data-step=note]")).to_contain_text("patient conscious, walking")
    await card.locator("[data-action=close]").click()
    await expect(card.locator(".error")).to_contain_text("Choose an outcome")
    await card.locator("[data-field=outcome]").select_option("treated_on_site")
    await card.locator("[data-action=close]").click()
    await expect(card).to_contain_text("· closed: treated on site")
    steps = card.locator(".timeline li")
    await expect(steps).to_have_count(5)
    assert [await s.get_attribute("data-step") for s in await steps.all()] == [
        "created", "assigned", "acknowledged", "note", "closed"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "incidents-board.png"), full_page=True)

    # the alert is resolved; the audit view shows its chain with times
    await alert.locator("[data-action=resolve]").click()
    await page.click("#audit-load")
    chain = page.locator("#audit-chains li", has_text="close lane N1")
    await expect(chain.locator("[data-step=alert]")).to_contain_text(" raised at ")
    await expect(chain.locator("[data-step=ack]")).to_contain_text("ack by N1 (gate) at ")
    await expect(chain.locator("[data-step=resolved]")).to_contain_text("alert resolved by commander at ")
    await expect(chain.locator("[data-step=resolved]")).to_contain_text(" after the order")

    # a spot clicked on the map opens one there, with its coordinates
    await page.click("#incident-new")
    await page.locator("#map").scroll_into_view_if_needed()
    box = await page.locator("#map polygon[data-zone=bowl]").bounding_box()
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await expect(page.locator("#incident-location")).to_have_value("bowl")
    await expect(page.locator("#incident-where")).to_contain_text(" m")
    await page.select_option("#incident-kind", "fight")
    await page.select_option("#incident-severity", "medium")
    await page.click("#incident-create")
    await expect(page.locator("#incidents li.incident").first).to_contain_text("fight (medium) at bowl · open")
    assert errors == []
    await phone_ctx.close()
    await ctx.close()
