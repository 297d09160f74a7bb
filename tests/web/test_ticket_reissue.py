"""Issue 15, reissue from the command UI on the real server: an operator reissues a lost ticket;
the old one is revoked as reissued, the page shows the new ticket's QR, and that QR decodes to
the new ticket's signed payload."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import expect
from support import Server, insert_registration

from command import issuing
from gate import qr
from vision.image import decode_bytes

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


async def test_an_operator_reissues_a_lost_ticket_from_the_live_map(browser: Any, server: Server,
                                                                    tmp_path: Path) -> None:
    event = server.venue.event.id
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, event)
        key_id, key = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        old, _ = await issuing.issue(conn, event_id=event, key_id=key_id, key=key, valid_from=now - 60,
                                     valid_until=now + 3600, now=now, holder_ref=rid)
    finally:
        await conn.close()
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    await page.goto(server.url + "/")
    await page.fill("#login-username", "operator")
    await page.fill("#login-password", server.passwords["operator"])
    await page.click("#login-submit")
    await expect(page.locator("#tickets-pane")).to_be_visible()
    await page.fill("#reissue-ticket", old.ticket_id)
    await page.fill("#reissue-reason", "phone stolen at the bar")
    await page.click("#reissue-submit")
    shown = page.locator("[data-new-ticket]")
    await expect(shown).to_be_visible()
    new_id = await shown.get_attribute("data-new-ticket")
    await expect(page.locator("#reissue-qr")).to_have_js_property("complete", True)
    assert await page.locator("#reissue-qr").evaluate("img => img.naturalWidth") > 100
    # the same again is refused: the old ticket is revoked already
    await page.fill("#reissue-ticket", old.ticket_id)
    await page.fill("#reissue-reason", "again")
    await page.click("#reissue-submit")
    await expect(page.locator("#reissue-error")).to_contain_text("revoked already")
    cookies = {c["name"]: c["value"] for c in await ctx.cookies()}
    async with aiohttp.ClientSession(cookies=cookies) as s, \
            s.get(f"{server.url}/api/tickets/{new_id}/qr.png") as r:
        assert r.status == 200 and r.content_type == "image/png"
        png = await r.read()
    await ctx.close()
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["ticket_id"]: r for r in await conn.fetch(
            "SELECT ticket_id, revoke_kind, reissued_as, payload, holder_ref FROM tickets")}
        audited = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ticket_qr_view'"
                                      " AND actor = 'operator' AND subject = $1", new_id)
    finally:
        await conn.close()
    assert rows[old.ticket_id]["revoke_kind"] == "reissued" and rows[old.ticket_id]["reissued_as"] == new_id
    assert rows[new_id]["holder_ref"] == rid
    assert qr.decode(decode_bytes(png)) == [rows[new_id]["payload"]]
    assert audited >= 2  # the page's image and this fetch
