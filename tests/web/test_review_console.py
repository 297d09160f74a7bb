"""The screening review console in headless chromium on the real command server: an operator
opens a gate's case, sees the live capture beside the watchlist photo with the list, distance
and threshold, confirms it — the nearest unit is dispatched and the gate told to hold — and a
viewer gets no console at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from playwright.async_api import expect
from support import ARTIFACTS, Server, shared, wait_for, watched_gate

from command import dispatch
from sim import frames

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


async def _login(browser: Any, server: Server, who: str) -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(server.url + "/")
    await page.fill("#login-username", who)
    await page.fill("#login-password", server.passwords[who])
    await page.click("#login-submit")
    await page.locator("#conn[data-state=live]").wait_for(timeout=15_000)
    return page, errors


async def test_an_operator_reviews_and_confirms_a_gate_hit_in_the_console(browser: Any, server: Server,
                                                                       tmp_path: Path) -> None:
    gate, entry = await watched_gate(server, tmp_path, label="Watched person")
    person = frames.load_person(shared("faces", "images") / "examples__obama.jpg")
    n1 = next(g for g in server.venue.gates if g.id == "N1")
    conn = await asyncpg.connect(server.db_url)
    await dispatch.upsert_unit(conn, unit_id="team-n1", kind="steward", name="Team N1", x=n1.position[0],
                               y=n1.position[1] + 2)
    await gate.start()
    try:
        await wait_for(gate.uplink.connected.is_set, within=10)
        held = await gate.scan(frames.compose(person.crop, np.full((8, 8, 3), 150, np.uint8)), scan_id="walk-in-1")
        assert held.decision.verdict == "secondary"

        async def a_case() -> bool:
            return await conn.fetchval("SELECT count(*) FROM screening_cases") == 1  # type: ignore[no-any-return]
        await wait_for(a_case, within=10)

        page, errors = await _login(browser, server, "operator")
        await page.click("#review-link")
        item = page.locator(".case-item")
        await expect(item).to_have_count(1)
        await expect(item).to_contain_text("Watched person")
        await item.click()
        await expect(page.locator("#f-list")).to_have_text("wanted")
        await expect(page.locator("#f-severity")).to_have_text("deny")
        await expect(page.locator("#f-threshold")).to_have_text(f"{gate.thresholds.screen:.4f}")
        await expect(page.locator("#f-where")).to_contain_text("gate N1")
        for img in ("#capture", "#watch-photo"):  # both pictures loaded through the audited routes
            await page.wait_for_function(f"document.querySelector('{img}').naturalWidth > 0")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "review-console.png"))
        await page.click("#dismiss")  # no reason given: refused in the page
        await expect(page.locator("#decide-error")).to_contain_text("reason")
        await page.fill("#reason", "same man, same scar")
        await page.click("#confirm")
        await expect(page.locator("#decided")).to_contain_text("confirmed by operator")
        await expect(page.locator("#decided")).to_contain_text("dispatch → team-n1")
        await expect(page.locator("#decided")).to_contain_text("hold_person → N1")
        await expect(page.locator("#cases-empty")).to_be_visible()
        await wait_for(lambda: any(o.kind == "hold_person" for o in gate.orders.values()), within=5)
        row = await conn.fetchrow("SELECT status, decided_by, decision_s, reason FROM screening_cases")
        assert (row["status"], row["decided_by"], row["reason"]) == ("confirmed", "operator", "same man, same scar")
        assert row["decision_s"] >= 0
        # the entry's governance is shown and it can be removed, with a reason
        listed = page.locator(f'[data-entry="{entry["id"]}"]')
        await expect(listed).to_contain_text("court order 2026/117")
        await listed.locator("button").click()
        await expect(page.locator("#entries-error")).to_contain_text("reason")
        await listed.locator("input").fill("list reviewed: no longer wanted")
        await listed.locator("button").click()
        await expect(listed).to_have_count(0)
        assert await conn.fetchval("SELECT encoding IS NULL FROM watchlist_entries WHERE id = $1", entry["id"])
        assert errors == []

        viewer, _ = await _login(browser, server, "viewer")
        await expect(viewer.locator("#review-link")).to_be_hidden()
        await viewer.goto(server.url + "/static/review.html")
        await expect(viewer.locator("#denied")).to_contain_text("commanders and operators")
        await expect(viewer.locator("#review")).to_be_hidden()
    finally:
        await gate.stop()
        await conn.close()
