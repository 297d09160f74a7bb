"""Registrant pre-screening on the real server, PostgreSQL and real photos: a registrant on a
list is held before any ticket is issued and released by a reviewer's Dismiss; a list that
changes after tickets were issued holds the match at the gates (their face is withheld); the
report (REST and CLI) counts registrants screened, candidates, decided, pending."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import pytest
from support import Server, shared, wait_for

from command import issuing, photo_seal, prescreen, registration
from eventguard.codes import EventKind, Reason, Verdict
from eventguard.errors import TicketingError
from eventguard.wire import GateEvent
from gate.service import GateCache, GateConfig, GateService
from shell import cli
from sim import frames
from vision.engine import DEFAULT_ENGINE, spec
from vision.index import WatchlistIndex

ENGINE = spec(DEFAULT_ENGINE)
SECRET = bytes(range(32))
ROWS = [("Barack Obama", "110101199001011237", "standard", "", "examples__obama.jpg", ""),
        ("Joe Biden", "110101199202022346", "standard", "", "examples__biden.jpg", "")]


def test_face_candidates_are_those_within_the_threshold() -> None:
    rng = np.random.default_rng(3)
    listed = rng.normal(size=(2, 128))
    listed /= np.linalg.norm(listed, axis=1, keepdims=True)
    index = WatchlistIndex.from_arrays(["e1", "e2"], ["l", "l"], ["deny", "info"], listed, version=1)
    regs = np.stack([listed[0] + 0.05 * rng.normal(size=128), rng.normal(size=128)])
    found = prescreen.face_candidates(index, ENGINE, ["r-near", "r-far"], regs, ENGINE.thresholds.screen)
    assert [(c.registration_id, c.entry_id, c.severity) for c in found] == [("r-near", "e1", "deny")]
    assert found[0].distance <= ENGINE.thresholds.screen
    assert prescreen.face_candidates(WatchlistIndex(), ENGINE, ["r"], regs[:1], 0.5) == []


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


async def _add_entry(server: Server, token: str, list_id: str, photo: Path, label: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("photo", await asyncio.to_thread(photo.read_bytes), filename="p.jpg", content_type="image/jpeg")
    form.add_field("label", label)
    form.add_field("legal_basis", "court order 2026/117 (test)")
    form.add_field("expires_at", "2099-01-01T00:00:00+00:00")
    async with aiohttp.ClientSession() as s:
        st, entry = await _call(s, "POST", f"{server.url}/api/watchlists/{list_id}/entries", token, data=form)
    assert st == 201, entry
    return entry


async def _import(server: Server, csv_path: Path, photos: Path, key_dir: Path) -> registration.ImportSummary:
    conn = await asyncpg.connect(server.db_url)
    try:
        key_id, key = await issuing.latest_key(conn, server.venue.event.id, key_dir)
        now = int(time.time())
        plan = registration.TicketPlan(key_id, key, valid_from=now - 60, valid_until=now + 3600, now=now)
        return await registration.import_csv(conn, csv_path, photos, event_id=server.venue.event.id, secret=SECRET,
                                             photo_key=photo_seal.load_key(photo_seal.key_path(key_dir)),
                                             tickets_plan=plan, workers=1)
    finally:
        await conn.close()


async def test_a_registrant_on_a_list_is_held_before_issue_and_released_by_a_dismiss(
        server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faces = shared("faces", "images")
    csv_path = tmp_path / "people.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(registration.COLUMNS)
        w.writerows(ROWS)
    op, cmdr = await server.login("operator"), await server.login("commander")
    async with aiohttp.ClientSession() as s:
        _, wl = await _call(s, "POST", f"{server.url}/api/watchlists", op, json={"name": "banned", "severity": "deny"})
    await _add_entry(server, op, wl["id"], faces / "examples__obama2.jpg", "Listed O")  # another photo of him

    first = await _import(server, csv_path, faces, tmp_path / "keys")
    by_name = {ROWS[r.line - 2][0]: r for r in first.rows}
    obama, biden = by_name["Barack Obama"], by_name["Joe Biden"]
    assert obama.ticket_id is None and "held for screening review" in obama.detail  # not issued
    assert biden.ticket_issued and biden.ticket_id
    api = f"{server.url}/api/screening"
    async with aiohttp.ClientSession() as s:
        st, cases = await _call(s, "GET", f"{api}/cases", op)
        assert st == 200 and [(c["source"], c["registration_id"], c["registrant"], c["label"]) for c in cases] == [
            ("registration", obama.registration_id, "Barack Obama", "Listed O")]
        assert cases[0]["basis"] == "face" and cases[0]["distance"] <= cases[0]["threshold"]
        st, rep = await _call(s, "GET", f"{api}/report", op)
        assert st == 200 and (rep["registrants"], rep["screened"], rep["candidates"], rep["pending"],
                              rep["decided"], rep["held"]) == (2, 2, 1, 1, 0, 1)

    # the list changes after Biden's ticket was issued: he is screened at once and held — his
    # face is withheld from the gates, so his ticket goes to a steward
    cfg = GateConfig(gate_id="N1", event_id=server.venue.event.id, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite", workers=1)
    gate = GateService(cfg, GateCache())
    await gate.start()
    try:
        await wait_for(lambda: biden.registration_id in gate.cache.holders, within=10)
        assert obama.registration_id not in gate.cache.holders and obama.registration_id in gate.cache.held
        person = frames.load_person(faces / "examples__biden.jpg")
        frame = frames.compose(person.crop, frames.qr_image(biden.payload or ""))
        assert (await gate.scan(frame)).decision.verdict is Verdict.ADMIT
        entry = await _add_entry(server, op, wl["id"], faces / "knn__train__biden__biden2.jpg", "Listed B")
        assert entry["prescreen"]["opened"] == 1
        await wait_for(lambda: biden.registration_id in gate.cache.held, within=10)
        assert biden.registration_id not in gate.cache.holders
        await gate.record(GateEvent(event_id="N1:out-1", gate_id="N1", kind=EventKind.EXIT, at=time.time(),
                                    ticket_id=biden.ticket_id))  # out again, then back: held this time
        again = await gate.scan(frame)
        assert again.decision.verdict is Verdict.SECONDARY
        assert Reason.SCREENING_HOLD in again.decision.reasons and Reason.WATCHLIST_DENY in again.decision.reasons
    finally:
        await gate.stop()

    conn = await asyncpg.connect(server.db_url)
    try:  # no other way round the hold: issuing by hand is refused too
        key_id, key = await issuing.latest_key(conn, server.venue.event.id, tmp_path / "keys")
        with pytest.raises(TicketingError, match="held for screening review"):
            await issuing.issue(conn, event_id=server.venue.event.id, key_id=key_id, key=key, valid_from=0,
                                valid_until=2**31, now=0, holder_ref=obama.registration_id)
    finally:
        await conn.close()
    async with aiohttp.ClientSession() as s:
        st, cases = await _call(s, "GET", f"{api}/cases", cmdr)
        mine = next(c for c in cases if c["registration_id"] == obama.registration_id)
        st, photo = await _call_raw(s, f"{api}/cases/{mine['id']}/capture", cmdr)
        assert st == 200 and photo[:3] == b"\xff\xd8\xff"  # the registration photo stands for the capture
        st, done = await _call(s, "POST", f"{api}/cases/{mine['id']}/dismiss", cmdr,
                               json={"reason": "registration photo and list photo differ (ears, hairline)"})
        assert st == 200 and done["status"] == "dismissed" and done["held"] is False
    again = await _import(server, csv_path, faces, tmp_path / "keys")  # the re-run issues the released ticket
    released = next(r for r in again.rows if r.registration_id == obama.registration_id)
    assert released.ticket_issued and released.ticket_id
    assert next(r for r in again.rows if r.registration_id == biden.registration_id).ticket_issued is False

    argv = ["screening", "report", "--event", server.venue.event.id, "--database-url", server.db_url, "--json"]
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, argv) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["registrants"], rep["candidates"], rep["decided"], rep["dismissed"], rep["pending"], rep["held"]) == (
        2, 2, 1, 1, 1, 1)
    conn = await asyncpg.connect(server.db_url)
    try:
        held = await conn.fetch("SELECT name FROM registrations WHERE screening_hold")
        audit = {r["action"] for r in await conn.fetch("SELECT action FROM audit_log")}
    finally:
        await conn.close()
    assert [r["name"] for r in held] == ["Joe Biden"]
    assert {"prescreen", "screening_dismiss", "screening_capture_view", "screening_report_read"} <= audit


async def _call_raw(s: aiohttp.ClientSession, url: str, token: str) -> tuple[int, bytes]:
    async with s.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.read()
