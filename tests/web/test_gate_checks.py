"""Issue 15, done when: a face that does not match its ticket is a CHECK on the real gate
terminal, a steward signs in with the PIN the command server issued for that gate and admits;
the gate counts it, the command server has the ticket inside and the audit log names the
steward. Real gate app and GateService (face engine on), real command server and PostgreSQL,
real photos of two different people, headless chromium; nothing is a stand-in."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import cv2
import pytest
from aiohttp import web
from playwright.async_api import expect
from support import ARTIFACTS, Server, insert_registration, shared, wait_for

from command import issuing, photo_seal, registration
from command.db.embedded import free_port
from command.steward_pins import issue_pin
from eventguard.config import Venue, load_venue
from eventguard.identity import keyed_hash
from eventguard.settings import DEFAULT_VENUE

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)
TOKEN = "terminal-secret"
STEWARD = "Anna Steward"
HOLDER = "Barack Obama"
HOLDER_ID = "110105198001010016"
PORT = free_port()  # the gate app's, known to the venue so the command center links to it


@pytest.fixture
def venue() -> Venue:
    """The demo venue with gate S1's address (host:port of its app) set."""
    v = load_venue(DEFAULT_VENUE)
    return dataclasses.replace(v, gates=tuple(dataclasses.replace(g, address=f"127.0.0.1:{PORT}")
                                              if g.id == "S1" else g for g in v.gates))


def _people(faces: Path) -> tuple[Any, Any]:
    """The registered holder's embedding (Obama) and the person at the lane (Biden): blocking."""
    from sim.frames import embed_photo, load_person

    return embed_photo(faces / "examples__obama.jpg"), load_person(faces / "examples__biden.jpg")


async def test_a_steward_admits_a_face_mismatch_counted_inside_and_audited(
        browser: Any, server: Server, tmp_path: Path) -> None:
    from gate.app import TerminalConfig, create_gate_app
    from gate.service import GateCache, GateConfig, GateService
    from sim.frames import compose, qr_image

    event = server.venue.event.id
    holder, person = await asyncio.to_thread(_people, shared("faces", "images"))
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, event, encoding=holder)
        # the registration's name and its photo, sealed as the import seals it (the server's key)
        photo = shared("faces", "images", "examples__obama.jpg").read_bytes()
        sealed = photo_seal.seal(photo_seal.load_key(photo_seal.key_path(tmp_path / "keys")), photo,
                                 photo_seal.registration_owner(rid))
        id_secret = registration.load_id_secret(registration.id_key_path(tmp_path / "keys"))  # the server's
        await conn.execute("UPDATE registrations SET name = $1, photo_sealed = $2, id_hmac = $3"
                           " WHERE registration_id = $4", HOLDER, sealed, keyed_hash(id_secret, HOLDER_ID), rid)
        key_id, key = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        ticket, payload = await issuing.issue(conn, event_id=event, key_id=key_id, key=key, valid_from=now - 60,
                                              valid_until=now + 3600, now=now, holder_ref=rid)
        pin = await issue_pin(conn, event, "S1", STEWARD, random.Random(15))
        keys = await issuing.public_keys(conn, event)
    finally:
        await conn.close()
    ok, png = cv2.imencode(".png", compose(person.crop, qr_image(payload)))
    assert ok
    cfg = GateConfig(gate_id="S1", event_id=event, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["S1"], journal_path=tmp_path / "S1.sqlite", workers=1)
    gate = GateService(cfg, GateCache(keys=keys))
    runner = web.AppRunner(create_gate_app(gate, TerminalConfig(token=TOKEN)), shutdown_timeout=1.0)
    await runner.setup()
    base = f"http://127.0.0.1:{PORT}"
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    try:
        # the holder's face, name and photo and the steward's PIN hash reach the gate with its lists
        await wait_for(lambda: rid in gate.cache.holders and STEWARD in gate.cache.stewards, within=15)
        card = gate.lists.card(rid)
        assert card is not None and card.name == HOLDER and card.photo.startswith(b"\xff\xd8")
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{base}/?token={TOKEN}&gate=S1")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        # the holder's ID number typed at the terminal for lane 1 (人证票合一): it is his
        await page.fill("#id-number", HOLDER_ID)
        await page.fill("#id-lane", "1")
        await page.click("#id-submit")
        await expect(page.locator("#id-status")).to_contain_text(f"ID …{HOLDER_ID[-4:]} read for lane 1")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            async with s.post(f"{base}/scan?lane=1", data=png.tobytes(), headers={"Content-Type": "image/png"}) as r:
                assert r.status == 200, await r.text()
                scanned = await r.json()
            assert scanned["verdict"] == "secondary" and "face_mismatch" in scanned["reasons"], scanned
            check_id = scanned["event_id"]
            # the check is queued with the camera crop, the ticket kind and every reason in words
            await expect(page.locator("#verdict-word")).to_have_text("CHECK")
            item = page.locator(f'#checks li[data-check="{check_id}"]')
            await expect(item.locator('img[data-photo="camera"]')).to_be_visible()
            # beside it the holder's registered photo and name, as synced to this gate
            await expect(item.locator('img[data-photo="registered"]')).to_be_visible()
            assert await item.locator('img[data-photo="registered"]').evaluate("i => i.naturalWidth") > 50
            await expect(item.locator(".nophoto")).to_have_count(0)
            await expect(item.locator(".who")).to_contain_text(HOLDER)
            await expect(item.locator(".who")).to_contain_text("standard ticket")
            await expect(item.locator(".reasons li")).to_have_text(["Face does not match the ticket holder",
                                                                    "ID document is the ticket holder's"])
            # without a steward signed in, no decision: the buttons are off and the API refuses
            await expect(item.locator('button[data-action="admit"]')).to_be_disabled()
            async with s.post(f"{base}/api/checks/{check_id}/decision",
                              json={"action": "admit", "code": "appearance_changed"},
                              headers={"Origin": base}) as r:
                assert r.status == 401 and (await r.json())["error"] == "steward_sign_in_required"
            await page.fill("#steward-name", STEWARD)
            await page.fill("#steward-pin", "000000" if pin != "000000" else "111111")
            await page.click("#steward-signin")
            await expect(page.locator("#steward-error")).to_contain_text("wrong PIN")
            await page.fill("#steward-pin", pin)
            await page.click("#steward-signin")
            await expect(page.locator("#steward-name-shown")).to_have_text(STEWARD)
            # a call for a supervisor keeps the check open, marked with who called
            await item.locator('select[data-code-for="call_supervisor"]').select_option("document_doubtful")
            await item.locator('button[data-action="call_supervisor"]').click()
            await expect(item.locator("[data-escalated]")).to_contain_text(f"Supervisor called by {STEWARD}")
            await page.screenshot(path=str(_artifact("gate-check-open.png")))
            await item.locator('select[data-code-for="admit"]').select_option("id_document_matches")
            await item.locator("textarea[data-note]").fill("passport checked")
            await item.locator('button[data-action="admit"]').click()
            await expect(page.locator("#checks li")).to_have_count(0)
            await expect(page.locator("#checks-empty")).to_be_visible()
            # the gate's own counters: the check and the steward's admission on lane 1
            await expect(page.locator('[data-counter="1-secondary"] b')).to_have_text("1")
            await expect(page.locator('[data-counter="1-entry"] b')).to_have_text("1")
            await page.screenshot(path=str(_artifact("gate-check-admitted.png")))
            async with s.get(f"{base}/api/state") as r:
                lanes = (await r.json())["lanes"]
            assert [(c["lane"], c["entry"], c["secondary"]) for c in lanes] == [(1, 1, 1)]
        await wait_for(lambda: gate.journal.pending() == 0, within=10)
        assert errors == []
        # the command center's gate table links S1 to its terminal
        chief = await browser.new_page(viewport={"width": 1400, "height": 950})
        await chief.goto(server.url + "/")
        await chief.fill("#login-username", "commander")
        await chief.fill("#login-password", server.passwords["commander"])
        await chief.click("#login-submit")
        await expect(chief.locator('a[data-terminal="S1"]')).to_have_attribute("href", f"//127.0.0.1:{PORT}/")
        await expect(chief.locator('a[data-terminal="N1"]')).to_have_count(0)  # no address in the venue
        await chief.close()  # its live socket would hold up the server's shutdown
        await page.close()
    finally:
        await runner.cleanup()

    conn = await asyncpg.connect(server.db_url)
    try:
        inside = await conn.fetchval("SELECT inside FROM presence WHERE event_id = $1 AND ticket_id = $2",
                                     event, ticket.ticket_id)
        counters = await conn.fetchrow("SELECT entries, secondary FROM gate_counters WHERE gate_id = 'S1'")
        audits = await conn.fetch("SELECT actor, role, subject, details::text AS d FROM audit_log"
                                  " WHERE action = 'steward_admit'")
        calls = await conn.fetch("SELECT actor FROM audit_log WHERE action = 'steward_call_supervisor'")
        escalated = await conn.fetchval("SELECT count(*) FROM gate_events WHERE kind = 'escalated'")
    finally:
        await conn.close()
    assert inside is True
    assert (counters["entries"], counters["secondary"]) == (1, 1)
    assert [(a["actor"], a["role"], a["subject"]) for a in audits] == [(STEWARD, "steward", ticket.ticket_id)]
    assert "id_document_matches" in audits[0]["d"] and "passport checked" in audits[0]["d"]
    assert check_id in audits[0]["d"]
    assert [c["actor"] for c in calls] == [STEWARD] and escalated == 1


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
