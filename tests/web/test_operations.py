"""Issue 20 done-when, in the browser on the real server: a commander creates units in the Units
panel, a density alert is raised by real gate events, the commander dispatches the proposed
nearest unit from the alert, the unit's responder page acknowledges it, and the audit view shows
alert → order → ack with times."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, send_entries

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


async def _create_unit(page: Any, uid: str, kind: str, name: str, home: str, caps: list[str],
                       shift: str = "") -> None:
    await page.fill("#unit-id", uid)
    await page.select_option("#unit-kind", kind)
    await page.fill("#unit-name", name)
    await page.select_option("#unit-caps", caps)
    await page.select_option("#unit-home", home)
    await page.fill("#unit-shift", shift)
    await page.click("#unit-save")
    await expect(page.locator(f"#units-table tr[data-unit='{uid}']")).to_be_visible()


async def test_create_dispatch_from_an_alert_acknowledge_on_the_phone_and_audit(browser: Any,
                                                                                server: Server) -> None:
    chief = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await chief.new_page()
    page.on("dialog", lambda d: d.accept())
    await page.goto(server.url + "/")
    await page.fill("#login-username", "commander")
    await page.fill("#login-password", server.passwords["commander"])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=15_000)
    await expect(page.locator("#units-empty")).to_be_visible()

    # Units panel: create, edit, retire
    await _create_unit(page, "ST-N", "steward", "North stewards", "north", ["crowd_control"], "00:00-23:59")
    await _create_unit(page, "AMB-1", "ambulance", "City ambulance", "bowl", ["first_aid", "patient_transport"])
    await _create_unit(page, "TMP", "transit", "Shuttle desk", "S1", ["transport"])
    row = page.locator("#units-table tr[data-unit='AMB-1']")
    await row.locator("[data-action=edit]").click()
    await page.fill("#unit-name", "City hospital ambulance 1")
    await page.fill("#unit-agency", "City hospital")
    await page.click("#unit-save")
    await expect(row).to_contain_text("City hospital ambulance 1 (City hospital)")
    await page.locator("#units-table tr[data-unit='TMP'] [data-action=retire]").click()
    await expect(page.locator("#units-table tr[data-unit='TMP']")).to_have_count(0)

    # a density alert from real gate events: 140 people in the 60 m² north concourse
    await send_entries(server, "N1", 140)
    alert = page.locator("li.alert", has_text="north").first
    await expect(alert).to_be_visible(timeout=15_000)
    await alert.locator("[data-action=dispatch]").click()
    await expect(page.locator("#dispatch")).to_be_visible()
    await expect(page.locator("#dispatch-location")).to_have_value("north")
    await expect(page.locator("#dispatch-proposal")).to_contain_text("ST-N 0 m · AMB-1 6 m")
    await expect(page.locator("#dispatch-target")).to_have_value("ST-N")
    await page.click("#dispatch-send")
    await expect(page.locator("#toast")).to_contain_text("sent to ST-N")
    order = page.locator("#orders li", has_text="dispatch ST-N")
    await expect(order).to_contain_text("sent")

    # the steward's phone: the link a commander issues, the order, acknowledge, a tap on the plan
    await page.locator("#units-table tr[data-unit='ST-N'] [data-action=link]").click()
    link = await page.locator("#unit-link-url").get_attribute("href")
    assert link and "/responder#token=" in link
    phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = await phone_ctx.new_page()
    await phone.goto(link)
    await expect(phone.locator("#unit-name")).to_have_text("North stewards (steward)")
    assert "token" not in phone.url  # the token left the address bar
    card = phone.locator(".order", has_text="dispatch → north")
    await expect(card).to_contain_text("sent")
    await card.locator("[data-action=ack]").click()
    await expect(card).to_contain_text("acknowledged")
    box = await phone.locator("#plan polygon[data-zone=bowl]").bounding_box()
    await phone.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await expect(phone.locator("#where")).to_have_text("in bowl")
    ARTIFACTS.mkdir(exist_ok=True)
    await phone.screenshot(path=str(ARTIFACTS / "responder-page.png"))

    # the command room sees the ack live, and the audit view shows the chain with times
    await expect(order).to_contain_text("acknowledged")
    await expect(page.locator("#units-table tr[data-unit='ST-N']")).to_contain_text("bowl")
    await page.click("#audit-load")
    chain = page.locator("#audit-chains li").first
    await expect(chain).to_contain_text("alert #")
    await expect(chain).to_contain_text("order #1 dispatch ST-N by commander at ")
    await expect(chain).to_contain_text("ack by ST-N (responder) at ")
    await expect(chain.locator("[data-step=ack]")).to_contain_text(" s")
    await page.screenshot(path=str(ARTIFACTS / "map-units-audit.png"), full_page=True)
    await phone_ctx.close()
    await chief.close()
