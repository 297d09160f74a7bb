"""Watchlist governance on the real server and PostgreSQL: every entry has an owner, a legal
basis and an expiry; removing one (REST) or its expiry erases its biometrics, closes its open
cases, releases the registrants it held and takes it off the gates; all audited."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from support import Server, face_key, insert_registration, shared, wait_for

from command import face_seal, governance, prescreen, watchlist_store
from eventguard.codes import WatchSeverity
from gate.service import GateCache, GateConfig, GateService
from vision.engine import DEFAULT_ENGINE, spec

ENGINE = spec(DEFAULT_ENGINE)


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


def _form(photo: bytes, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("photo", photo, filename="p.jpg", content_type="image/jpeg")
    for k, v in fields.items():
        form.add_field(k, v)
    return form


async def test_entries_carry_their_basis_and_removal_erases_and_releases(server: Server, tmp_path: Path) -> None:
    photo = await asyncio.to_thread((shared("faces", "images") / "examples__obama2.jpg").read_bytes)
    op, viewer = await server.login("operator"), await server.login("viewer")
    api = f"{server.url}/api/watchlists"
    basis = {"legal_basis": "warrant 17/2026, district court", "expires_at": "2099-06-30T00:00:00+08:00"}
    async with aiohttp.ClientSession() as s:
        _, wl = await _call(s, "POST", api, op, json={"name": "wanted", "severity": "detain"})
        entries = f"{api}/{wl['id']}/entries"
        for missing, fields in (("legal_basis", {"expires_at": basis["expires_at"]}),
                                ("expires_at", {"legal_basis": basis["legal_basis"]})):
            st, err = await _call(s, "POST", entries, op, data=_form(photo, label="X", **fields))
            assert st == 400 and missing in err["message"], err
        for when in ("2001-01-01T00:00:00+00:00", "2099-01-01T00:00:00"):  # past; no time zone
            st, err = await _call(s, "POST", entries, op, data=_form(photo, label="X", **{**basis, "expires_at": when}))
            assert (st, err.get("field")) == (400, "expires_at"), err
        st, entry = await _call(s, "POST", entries, op, data=_form(photo, label="Listed", owner="Inspector Li", **basis))
        assert st == 201, entry
        st, rows = await _call(s, "GET", entries, op)
        assert [(r["owner"], r["legal_basis"]) for r in rows] == [("Inspector Li", basis["legal_basis"])]
        assert rows[0]["expires_at"] == datetime.fromisoformat(basis["expires_at"]).timestamp()

    conn = await asyncpg.connect(server.db_url)
    cfg = GateConfig(gate_id="N1", event_id=server.venue.event.id, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite", workers=1)
    gate = GateService(cfg, GateCache())
    try:
        key = face_key(tmp_path)
        enc = face_seal.watch_face(key, await conn.fetchrow(
            "SELECT id, model_id, encoding, encoding_sealed FROM watchlist_entries WHERE id = $1", entry["id"]))
        rid = await insert_registration(conn, server.venue.event.id, encoding=enc)  # the same face registered
        run = await prescreen.prescreen(conn, server.venue.event.id, ENGINE, cause="manual", actor="t", face_key=key)
        assert run.opened == 1 and await conn.fetchval(
            "SELECT screening_hold FROM registrations WHERE registration_id = $1", rid)
        await gate.start()
        await wait_for(lambda: entry["id"] in gate.cache.watchlist and rid in gate.cache.held, within=10)

        async with aiohttp.ClientSession() as s:
            remove = f"{api}/entries/{entry['id']}/remove"
            assert (await _call(s, "POST", remove, viewer, json={"reason": "x"}))[0] == 403
            assert (await _call(s, "POST", remove, op, json={}))[0] == 400  # a reason is required
            st, out = await _call(s, "POST", remove, op, json={"reason": "warrant withdrawn"})
            assert st == 200 and (out["cases_closed"], out["released"]) == (1, 1), out
            assert (await _call(s, "POST", remove, op, json={"reason": "again"}))[0] == 409
            st, rows = await _call(s, "GET", entries, op)
            assert rows == []
        row = await conn.fetchrow("SELECT encoding, encoding_sealed, photo_sealed, removed_by, removal_reason"
                                  " FROM watchlist_entries WHERE id = $1", entry["id"])
        assert (row["encoding"], row["encoding_sealed"], row["photo_sealed"]) == (None, None, None)
        assert (row["removed_by"], row["removal_reason"]) == ("operator", "warrant withdrawn")
        case = await conn.fetchrow("SELECT status, reason, decided_by FROM screening_cases WHERE registration_id = $1",
                                   rid)
        assert (case["status"], case["decided_by"]) == ("dismissed", "operator") and "warrant withdrawn" in case["reason"]
        assert not await conn.fetchval("SELECT screening_hold FROM registrations WHERE registration_id = $1", rid)
        await wait_for(lambda: entry["id"] not in gate.cache.watchlist and rid not in gate.cache.held
                       and rid in gate.cache.holders, within=10)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'watchlist_entry_remove'"
                                   " AND actor = 'operator'") == 1

        # an entry past its expiry is never screened against, and the sweep erases it
        soon = await watchlist_store.add_entry(conn, wl["id"], "Brief", enc, "t", model_id=ENGINE.model_id,
                                               legal_basis="48 h order", face_key=key,
                                               expires_at=await conn.fetchval("SELECT now() + interval '1 second'"))
        assert soon in await watchlist_store.load_index(conn, ENGINE, key)
        await asyncio.sleep(1.1)
        assert soon not in await watchlist_store.load_index(conn, ENGINE, key)
        assert await governance.expire_entries(conn) == [soon]
        assert await conn.fetchval("SELECT encoding_sealed IS NULL AND removed_by = 'expiry' FROM watchlist_entries"
                                   " WHERE id = $1", soon)
        assert WatchSeverity.DETAIN == wl["severity"]
    finally:
        await gate.stop()
        await conn.close()
