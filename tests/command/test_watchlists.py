"""Watchlists on a real server and PostgreSQL: roles, photo intake, audited reads, and a gate's
hit stored in watchlist_hits (the gate's index is preloaded from the database here; the list
sync that carries watchlists to gates is tested in tests/eventguard/test_watchlist_sync.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import websockets
from support import Server, face_key, insert_registration, shared, wait_for

from command import issuing, photo_seal, watchlist_store
from command.db.embedded import EmbeddedPostgres
from eventguard.codes import WatchSeverity
from eventguard.wire import ErrorMsg, Pong, WatchlistHitReport, decode_server_message, encode
from gate.service import GateCache, GateConfig, GateService
from sim import frames
from vision.engine import DEFAULT_ENGINE, spec

ENGINE = spec(DEFAULT_ENGINE)


def _photo_form(path: Path | None, label: str = "Person A", data: bytes | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    body = data if data is not None else path.read_bytes() if path else b""
    form.add_field("photo", body, filename="p.jpg", content_type="image/jpeg")
    form.add_field("label", label)
    form.add_field("legal_basis", "court order 2026/117 (test)")
    form.add_field("expires_at", "2099-01-01T00:00:00+00:00")
    return form


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str | None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.request(method, url, headers=headers, **kw) as r:
        return r.status, await r.json()


async def test_roles_intake_and_audited_reads(server: Server, tmp_path: Path) -> None:
    faces_dir = shared("faces", "images")
    op, cmdr, viewer = [await server.login(u) for u in ("operator", "commander", "viewer")]
    api = server.url + "/api"
    async with aiohttp.ClientSession() as s:
        assert (await _call(s, "GET", f"{api}/watchlists", None))[0] == 401
        for method, path in (("GET", "/watchlists"), ("POST", "/watchlists"), ("GET", "/watchlist-hits")):
            assert (await _call(s, method, api + path, viewer, json={}))[0] == 403
        st, wl = await _call(s, "POST", f"{api}/watchlists", op, json={"name": "banned", "severity": "deny"})
        assert st == 201 and wl["severity"] == "deny"
        assert (await _call(s, "POST", f"{api}/watchlists", op, json={"name": "banned", "severity": "deny"}))[0] == 409
        assert (await _call(s, "POST", f"{api}/watchlists", op, json={"name": "x", "severity": "shoot"}))[0] == 400
        entries = f"{api}/watchlists/{wl['id']}/entries"
        assert (await _call(s, "GET", entries, viewer))[0] == 403
        st, e = await _call(s, "POST", entries, op, data=_photo_form(faces_dir / "examples__obama2.jpg"))
        assert st == 201 and e["model_id"] == ENGINE.model_id, e
        st, err = await _call(s, "POST", entries, op, data=_photo_form(shared("qr", "qrcode-1", "1.png")))
        assert (st, err["error"]) == (422, "no_face")
        st, err = await _call(s, "POST", entries, op, data=_photo_form(faces_dir / "examples__two_people.jpg"))
        assert (st, err["error"]) == (422, "multiple_faces")
        st, err = await _call(s, "POST", entries, op, data=_photo_form(None, data=b"not a photo"))
        assert (st, err["error"]) == (400, "not_an_image")
        assert (await _call(s, "POST", f"{api}/watchlists/nope/entries", op,
                            data=_photo_form(faces_dir / "examples__obama2.jpg")))[0] == 404
        st, rows = await _call(s, "GET", entries, op)
        assert st == 200 and [r["label"] for r in rows] == ["Person A"] and "encoding" not in rows[0]
        assert (await _call(s, "GET", entries + "?encodings=1", op))[0] == 403
        st, rows = await _call(s, "GET", entries + "?encodings=1", cmdr)
        assert st == 200 and len(rows[0]["encoding"]) == ENGINE.dim and rows[0]["model_id"] == ENGINE.model_id
        st, ls = await _call(s, "GET", f"{api}/watchlists", cmdr)
        assert [(x["name"], x["entries"]) for x in ls] == [("banned", 1)]
    conn = await asyncpg.connect(server.db_url)
    try:
        audit = await conn.fetch("SELECT actor, action, details FROM audit_log WHERE action LIKE 'watchlist%' ORDER BY id")
        sealed = await conn.fetchval("SELECT photo_sealed FROM watchlist_entries WHERE id = $1", e["id"])
    finally:
        await conn.close()
    # the photo is kept only sealed, under the key file in the server's key directory (0600)
    key_file = photo_seal.key_path(tmp_path / "keys")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert photo_seal.unseal(photo_seal.load_key(key_file), sealed, photo_seal.watch_owner(e["id"])) == (
        faces_dir / "examples__obama2.jpg").read_bytes()
    actions = [(r["actor"], r["action"]) for r in audit]
    assert ("operator", "watchlist_create") in actions and ("operator", "watchlist_entry_add") in actions
    assert actions.count(("operator", "watchlist_entries_read")) == 1
    assert actions.count(("commander", "watchlist_entries_read")) == 1
    assert not any(a[0] == "viewer" for a in actions)


async def _watched_gate(server: Server, tmp_path: Path, faces_dir: Path) -> tuple[GateService, str, Any, dict[str, Any],
                                                                        dict[str, Any]]:
    """A deny watchlist with Obama's photo, Obama registered with a ticket, and gate N1 (not started)."""
    op = await server.login("operator")
    async with aiohttp.ClientSession() as s:
        _, wl = await _call(s, "POST", f"{server.url}/api/watchlists", op, json={"name": "w", "severity": "deny"})
        st, entry = await _call(s, "POST", f"{server.url}/api/watchlists/{wl['id']}/entries", op,
                                data=_photo_form(faces_dir / "examples__obama2.jpg", label="Watched"))
        assert st == 201
    conn = await asyncpg.connect(server.db_url)
    try:
        index = await watchlist_store.load_index(conn, ENGINE, face_key(tmp_path))
        keys = await issuing.public_keys(conn, server.venue.event.id)
        key_id, key = await issuing.latest_key(conn, server.venue.event.id, tmp_path / "keys")
        now = int(time.time())
        person = frames.load_person(faces_dir / "examples__obama.jpg")
        await insert_registration(conn, server.venue.event.id, encoding=person.encoding,
                                  registration_id=person.holder_ref)
        _, payload = await issuing.issue(conn, event_id=server.venue.event.id, key_id=key_id, key=key,
                                           valid_from=now - 60, valid_until=now + 3600, now=now,
                                           holder_ref=person.holder_ref)
    finally:
        await conn.close()
    assert len(index) == 1 and entry["id"] in index
    cfg = GateConfig(gate_id="N1", event_id=server.venue.event.id, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite", workers=2)
    gate = GateService(cfg, GateCache(keys=keys, holders={person.holder_ref: person.encoding}, watchlist=index))
    return gate, payload, person, wl, entry


async def test_gate_hit_is_stored_once_and_viewing_it_is_audited(server: Server, tmp_path: Path) -> None:
    faces_dir = shared("faces", "images")
    gate, payload, person, wl, entry = await _watched_gate(server, tmp_path, faces_dir)
    await gate.start()
    try:
        await wait_for(gate.uplink.connected.is_set, within=10)
        result = await gate.scan(frames.compose(person.crop, frames.qr_image(payload)), lane=0)
        assert result.decision.verdict == "secondary" and "watchlist_deny" in result.event.reasons
        conn = await asyncpg.connect(server.db_url)
        try:
            async def stored() -> bool:
                n: int = await conn.fetchval("SELECT count(*) FROM watchlist_hits")
                return n == 1
            await wait_for(stored, within=10)
            await wait_for(lambda: not gate.journal.unsent_hits(), within=5)
            row = await conn.fetchrow("SELECT * FROM watchlist_hits")
            assert (row["gate_id"], row["entry_id"], row["severity"]) == ("N1", entry["id"], "deny")
            assert row["event_id"] == result.event.event_id and row["distance"] <= ENGINE.thresholds.screen
            # a replayed report (gate restarted before marking it sent) stores nothing new
            again = WatchlistHitReport(event_id=row["event_id"], gate_id="N1", at=time.time(), list_id=wl["id"],
                                       entry_id=entry["id"], severity="deny", distance=0.3)
            assert await watchlist_store.store_hit(conn, "N1", again) is False
            cmdr = await server.login("commander")
            async with aiohttp.ClientSession() as s:
                st, hits = await _call(s, "GET", f"{server.url}/api/watchlist-hits", cmdr)
            assert st == 200 and [(h["label"], h["gate_id"]) for h in hits] == [("Watched", "N1")]
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'watchlist_hits_read' "
                                       "AND actor = 'commander'") == 1
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'watchlist_hit'") == 1
            # a viewer sees that a screening alert exists at N1, not whom it concerns
            viewer = await server.login("viewer")
            async with aiohttp.ClientSession() as s:
                st, seen = await _call(s, "GET", f"{server.url}/api/alerts", viewer)
                _, snap = await _call(s, "GET", f"{server.url}/api/snapshot", viewer)
                _, full = await _call(s, "GET", f"{server.url}/api/alerts", cmdr)
            hit_views = [a for a in seen if a["kind"] == "watchlist_hit"]
            assert st == 200 and len(hit_views) == 1 and hit_views[0]["details"] == {"gate_id": "N1"}
            assert hit_views[0]["subject"] == "screening" and entry["id"] not in str(seen) + str(snap)
            assert any(a["kind"] == "watchlist_hit" and a["details"]["entry_id"] == entry["id"] for a in full)
        finally:
            await conn.close()
    finally:
        await gate.stop()


async def test_a_hit_made_while_the_database_is_down_is_stored_once_after_it_returns(
        server: Server, tmp_path: Path, pg: EmbeddedPostgres) -> None:
    gate, payload, person, _, entry = await _watched_gate(server, tmp_path, shared("faces", "images"))
    await gate.start()
    try:
        await wait_for(gate.uplink.connected.is_set, within=10)
        await asyncio.to_thread(pg.stop, "fast")
        result = await gate.scan(frames.compose(person.crop, frames.qr_image(payload)), lane=0)
        assert "watchlist_deny" in result.event.reasons
        await asyncio.sleep(3)  # sent, refused (database down): kept in the journal, no HitAck
        assert [h.entry_id for h in gate.journal.unsent_hits()] == [entry["id"]]
        await asyncio.to_thread(pg.start)
        await wait_for(lambda: not gate.journal.unsent_hits(), within=60)  # resent until confirmed
        conn = await asyncpg.connect(server.db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM watchlist_hits") == 1
            assert await conn.fetchval("SELECT count(*) FROM alerts WHERE kind = 'watchlist_hit'") == 1
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'watchlist_hit'") == 1
        finally:
            await conn.close()
    finally:
        await gate.stop()


async def test_photo_bombs_are_refused_before_decoding(server: Server) -> None:
    """The probe's decompression bombs as watchlist photos: each refused with its code (400),
    before OpenCV or dlib sees it; nothing is stored."""
    import bombs

    op = await server.login("operator")
    api = server.url + "/api"
    async with aiohttp.ClientSession() as s:
        st, wl = await _call(s, "POST", f"{api}/watchlists", op, json={"name": "bombs", "severity": "info"})
        assert st == 201
        for name, (data, code) in bombs.bombs().items():
            st, err = await _call(s, "POST", f"{api}/watchlists/{wl['id']}/entries", op,
                                  data=_photo_form(None, data=data))
            assert (st, err["error"]) == (400, code), name
        st, rows = await _call(s, "GET", f"{api}/watchlists/{wl['id']}/entries", op)
        assert st == 200 and rows == []


async def test_a_gate_cannot_choose_a_hits_severity_or_list(server: Server, tmp_path: Path) -> None:
    """A hit report names an entry; its list and severity are the server's (a gate said `deny`
    for an `info` entry and the alert was raised as critical), and an unknown entry is refused."""
    conn = await asyncpg.connect(server.db_url)
    try:
        wl = await watchlist_store.create_list(conn, "info-list", WatchSeverity.INFO, "t")
        entry = await watchlist_store.add_entry(conn, wl["id"], "Someone", np.full(128, 128 ** -0.5), "t", None,
                                                model_id=spec(DEFAULT_ENGINE).model_id, face_key=face_key(tmp_path))
    finally:
        await conn.close()
    event_id = f"N1:{uuid.uuid4().hex}"
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens['N1']}"}) as ws:
        await ws.recv()
        for entry_id, lid in ((entry, "forged-list"), ("no-such-entry", wl["id"])):
            await ws.send(encode(WatchlistHitReport(event_id=event_id, gate_id="N1", at=time.time(), list_id=lid,
                                                    entry_id=entry_id, severity="deny", distance=0.3)).decode())
        await ws.send(json.dumps({"type": "ping", "nonce": "done"}))
        replies = []
        while not isinstance(replies[-1] if replies else None, Pong):
            replies.append(decode_server_message(await ws.recv()))
        assert [r.code for r in replies if isinstance(r, ErrorMsg)] == ["not_found"]
    conn = await asyncpg.connect(server.db_url)
    try:
        row = await conn.fetchrow("SELECT list_id, severity FROM watchlist_hits WHERE event_id = $1", event_id)
    finally:
        await conn.close()
    assert (row["list_id"], row["severity"]) == (wl["id"], "info")
    cmdr = await server.login("commander")
    async with aiohttp.ClientSession() as s:
        st, alerts = await _call(s, "GET", f"{server.url}/api/alerts", cmdr)
    hit = next(a for a in alerts if a["subject"] == event_id)
    assert hit["level"] == "info" and hit["details"]["severity"] == "info"
