"""Watchlists in the list sync: chunking (pure), the gate's file, numbering and notify on PostgreSQL,
and REST entry -> real gate -> verdict, hit report, removal, deactivation and an offline restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from support import Server, shared, wait_for

from command import issuing, sync_store
from command.sync_store import Change
from eventguard.codes import WatchSeverity
from eventguard.wire import ListSync, PublicKey, WatchFace, decode_server_message, encode
from gate.listcache import FaceFilter, ListCache
from gate.service import GateCache, GateConfig, GateService
from sim import frames
from vision.engine import DEFAULT_ENGINE, spec
from vision.screen import search

EVENT = "demo-2026"
KEYS = (PublicKey(key_id=1, public_key=bytes(32)),)
ENGINE = spec(DEFAULT_ENGINE)
MODEL = ENGINE.model_id


def _enc(seed: int) -> bytes:
    return sync_store.encoding_bytes(np.random.default_rng(seed).normal(0, 0.1, 128).tolist())


def _watch(v: int, sev: str = "deny") -> Change:
    return Change(v, "watch_added", uuid.uuid4().hex, _enc(v), MODEL, uuid.uuid4().hex, sev)


# ---- pure ---------------------------------------------------------------------------------


def test_watch_faces_are_chunked_within_budget_and_round_trip() -> None:
    changes = [_watch(v, "detain") if v % 4 else Change(v, "watch_removed", f"e{v}") for v in range(1, 41)]
    budget = 8000
    msgs = sync_store.chunk(EVENT, 0, 45, KEYS, changes, full=True, budget=budget)
    assert len(msgs) > 4 and msgs[-1].version == 45 and msgs[0].full
    empty = len(encode(ListSync(event_id=EVENT, version=45, since_version=44, keys=KEYS, full=True, more=True)))
    for m in msgs:
        assert len(encode(m)) - empty <= budget  # the per-face cost covers a real WatchFace
        assert decode_server_message(encode(m)) == m
    added = [w for m in msgs for w in m.watch_added]
    assert [w.entry_id for w in added] == [c.ref for c in changes if c.kind == "watch_added"]
    assert all(w.severity == "detain" and len(w.encoding) == 1024 and w.model_id == MODEL for w in added)
    assert [r for m in msgs for r in m.watch_removed] == [c.ref for c in changes if c.kind == "watch_removed"]
    # the size estimate is not loose either: one face costs at most the budgeted bytes, and most of them
    one = ListSync(event_id=EVENT, version=1, since_version=0,
                   watch_added=(WatchFace(entry_id="a" * 32, list_id="b" * 32, severity="detain",
                                          model_id=MODEL, encoding=_enc(1)),))
    cost = len(encode(one)) - len(encode(ListSync(event_id=EVENT, version=1, since_version=0)))
    assert 1400 < cost <= sync_store._cost(_watch(1))


def test_list_cache_keeps_watch_entries_and_full_replaces(tmp_path: Path) -> None:
    lc = ListCache(tmp_path / "g.lists")
    a, b = _watch(2, "deny"), _watch(3, "detain")
    lc.save(sync_store.chunk(EVENT, 0, 3, KEYS, [a, b], full=True)[0])
    lc.save(sync_store.chunk(EVENT, 3, 4, KEYS, [Change(4, "watch_removed", a.ref)], full=False)[0])
    bad = ListSync(event_id=EVENT, version=5, since_version=4, keys=KEYS, watch_added=(
        WatchFace(entry_id="x", list_id="l", severity="shoot", model_id=MODEL, encoding=_enc(5)),
        WatchFace(entry_id="y", list_id="l", severity="deny", model_id=MODEL, encoding=b"short"),
        WatchFace(entry_id="z", list_id="l", severity="deny", model_id="dlib-resnet-v1", encoding=_enc(6))))
    lc.save(bad)  # stored as received; dropped when loaded (z: another model's, never compared)
    lc.close()
    got = ListCache(tmp_path / "g.lists").load(FaceFilter(ENGINE))
    assert got.version == 5 and [(e.entry_id, e.list_id, e.severity) for e in got.watch] == [
        (b.ref, b.list_id, WatchSeverity.DETAIN)]
    assert got.ignored_watch == 3
    v = np.frombuffer(b.encoding, "<f8")  # the index holds the cosine engine's vectors at unit length
    assert np.allclose(got.watch[0].encoding, v / np.linalg.norm(v))
    lc = ListCache(tmp_path / "g.lists")
    c = _watch(8)
    lc.save(sync_store.chunk(EVENT, 0, 9, KEYS, [c], full=True)[0])
    assert [e.entry_id for e in lc.load(FaceFilter(ENGINE)).watch] == [c.ref]
    lc.close()


# ---- PostgreSQL ---------------------------------------------------------------------------


async def _list(conn: asyncpg.Connection, name: str, severity: str) -> str:
    lid = uuid.uuid4().hex
    await conn.execute("INSERT INTO watchlists (id, name, severity, created_by) VALUES ($1, $2, $3, 't')",
                       lid, name, severity)
    return lid


async def _entry(conn: asyncpg.Connection, list_id: str, seed: int) -> str:
    eid = uuid.uuid4().hex
    await conn.execute("INSERT INTO watchlist_entries (id, list_id, label, encoding, added_by, model_id)"
                       " VALUES ($1, $2, 'x', $3, 't', $4)", eid, list_id, _enc(seed), MODEL)
    return eid


def _added(msgs: list[ListSync]) -> dict[str, WatchFace]:
    return {w.entry_id: w for m in msgs for w in m.watch_added}


def _removed(msgs: list[ListSync]) -> list[str]:
    return [r for m in msgs for r in m.watch_removed]


async def test_changes_carry_entries_removals_and_list_state(conn: asyncpg.Connection) -> None:
    deny, detain = await _list(conn, "banned", "deny"), await _list(conn, "watch", "detain")
    e1, e2, e3 = await _entry(conn, deny, 1), await _entry(conn, deny, 2), await _entry(conn, detain, 3)
    await conn.execute("UPDATE watchlist_entries SET removed_at = now() WHERE id = $1", e2)

    full = await sync_store.changes(conn, EVENT, 0)
    assert len(full) == 1 and full[0].full
    assert set(_added(full)) == {e1, e3} and _removed(full) == []  # a full sync has current entries only
    assert (_added(full)[e1].list_id, _added(full)[e1].severity) == (deny, "deny")
    assert _added(full)[e3].severity == "detain" and _added(full)[e3].encoding == _enc(3)
    w, known = full[0].version, full[0].keys

    # deactivating a list removes its current entries at the gates; reactivating brings them back
    await conn.execute("UPDATE watchlists SET active = false WHERE id = $1", deny)
    inc = await sync_store.changes(conn, EVENT, w, known_keys=known)
    assert len(inc) == 1 and not inc[0].full and _removed(inc) == [e1] and _added(inc) == {}
    w = inc[0].version
    again = await sync_store.changes(conn, "another-event", 0)  # venue-wide: every event's gates get them
    assert set(_added(again)) == {e3}
    await conn.execute("UPDATE watchlists SET active = true, severity = 'detain' WHERE id = $1", deny)
    inc = await sync_store.changes(conn, EVENT, w, known_keys=known)
    assert set(_added(inc)) == {e1} and _added(inc)[e1].severity == "detain" and _removed(inc) == []
    w = inc[0].version
    # removing an entry; an unrelated list update (no state change) sends nothing
    await conn.execute("UPDATE watchlist_entries SET removed_at = now() WHERE id = $1", e3)
    await conn.execute("UPDATE watchlists SET created_by = 'someone' WHERE id = $1", detain)
    inc = await sync_store.changes(conn, EVENT, w, known_keys=known)
    assert _removed(inc) == [e3] and _added(inc) == {}
    assert await sync_store.changes(conn, EVENT, inc[-1].version, known_keys=known) == []


async def test_entry_changes_notify_every_event(conn: asyncpg.Connection, db_url: str) -> None:
    got: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db_url)
    try:
        await listener.add_listener(sync_store.CHANNEL, lambda *a: got.put_nowait(a[3]))
        lid = await _list(conn, "banned", "deny")
        eid = await _entry(conn, lid, 1)
        assert await asyncio.wait_for(got.get(), 5) == sync_store.ALL_EVENTS
        await conn.execute("UPDATE watchlists SET active = false WHERE id = $1", lid)
        assert await asyncio.wait_for(got.get(), 5) == sync_store.ALL_EVENTS
        await conn.execute("UPDATE watchlist_entries SET removed_at = now() WHERE id = $1", eid)
        assert await asyncio.wait_for(got.get(), 5) == sync_store.ALL_EVENTS
    finally:
        await listener.close()


async def test_watermark_waits_for_an_uncommitted_entry(db_url: str, conn: asyncpg.Connection) -> None:
    lid = await _list(conn, "banned", "deny")
    writer = await asyncpg.connect(db_url)
    try:
        tx = writer.transaction()
        await tx.start()
        eid = await _entry(writer, lid, 1)
        await _entry(conn, lid, 2)  # a later number, committed first
        reader = asyncio.create_task(sync_store.changes(conn, EVENT, 0))
        await asyncio.sleep(0.3)
        assert not reader.done()  # numbered under the shared lock, like registrations
        await tx.commit()
        assert eid in _added(await asyncio.wait_for(reader, 5))
    finally:
        await writer.close()


# ---- REST -> real gate --------------------------------------------------------------------


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


def _photo(path: Path, label: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("photo", path.read_bytes(), filename="p.jpg", content_type="image/jpeg")
    form.add_field("label", label)
    form.add_field("legal_basis", "court order 2026/117 (test)")
    form.add_field("expires_at", "2099-01-01T00:00:00+00:00")
    return form


def _gate(server: Server, tmp_path: Path, url: str | None = None) -> GateService:
    cfg = GateConfig(gate_id="N1", event_id=server.venue.event.id, token=server.gate_tokens["N1"],
                     server_url=url or f"{server.ws_url}/ws/gate", journal_path=tmp_path / "N1.sqlite",
                     face_required=True, workers=1)
    return GateService(cfg, GateCache())  # nothing preloaded: keys, holders and watchlist come by sync


async def test_rest_entry_reaches_a_gate_that_screens_and_keeps_it_offline(server: Server, tmp_path: Path) -> None:
    faces_dir = shared("faces", "images")
    event = server.venue.event.id
    person = frames.load_person(faces_dir / "examples__obama.jpg")  # the face at the lane camera
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = uuid.uuid4().hex  # the ticket holder is registered with his own photo: face_match
        await conn.execute(
            "INSERT INTO registrations (registration_id, event_id, id_hmac, id_last4, name, ticket_type,"
            " photo, encoding, model_id) VALUES ($1, $2, $3, '1234', 'B O', 'standard', 'o.jpg', $4, $5)",
            rid, event, bytes(32), person.encoding.tolist(), person.model_id)
        key_id, key = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        _, payload = await issuing.issue(conn, event_id=event, key_id=key_id, key=key, valid_from=now - 60,
                                           valid_until=now + 3600, now=now, holder_ref=rid)
        frame = frames.compose(person.crop, frames.qr_image(payload))
        assert frame.shape == (480, 640, 3)

        gate = _gate(server, tmp_path)
        await gate.start()
        op = await server.login("operator")
        api = f"{server.url}/api/watchlists"
        try:
            await wait_for(lambda: rid in gate.cache.holders and gate.cache.keys, within=10)
            async with aiohttp.ClientSession() as s:
                _, banned = await _call(s, "POST", api, op, json={"name": "banned", "severity": "deny"})
                _, watch = await _call(s, "POST", api, op, json={"name": "watch", "severity": "detain"})
                t0 = time.perf_counter()
                st, e1 = await _call(s, "POST", f"{api}/{banned['id']}/entries", op,
                                     data=_photo(faces_dir / "examples__obama2.jpg", "Banned person"))
                assert st == 201, e1
                await wait_for(lambda: e1["id"] in gate.cache.watchlist, within=5)
                latency = time.perf_counter() - t0

                # the list change pre-screened the registrant too (command/prescreen.py): he is held
                # for review, so his face leaves the gate and his ticket goes to a steward
                await wait_for(lambda: rid in gate.cache.held and rid not in gate.cache.holders, within=5)
                denied = await gate.scan(frame)
                assert denied.decision.verdict == "secondary", denied.decision.reasons  # held for a human
                assert {"screening_hold", "watchlist_deny"} <= set(denied.event.reasons)

                async def hit_stored(event_id: str, entry_id: str, severity: str) -> bool:
                    row = await conn.fetchrow("SELECT gate_id, severity, list_id FROM watchlist_hits"
                                              " WHERE event_id = $1 AND entry_id = $2", event_id, entry_id)
                    return row is not None and (row["gate_id"], row["severity"]) == ("N1", severity)

                await wait_for(lambda: hit_stored(denied.event.event_id, e1["id"], "deny"), within=10)

                # removed from its list -> gone from the gate; the same face on a detain list -> secondary
                await conn.execute("UPDATE watchlist_entries SET removed_at = now() WHERE id = $1", e1["id"])
                await wait_for(lambda: e1["id"] not in gate.cache.watchlist, within=5)
                st, e2 = await _call(s, "POST", f"{api}/{watch['id']}/entries", op,
                                     data=_photo(faces_dir / "examples__obama2.jpg", "Watched person"))
                assert st == 201, e2
                await wait_for(lambda: e2["id"] in gate.cache.watchlist and len(gate.cache.watchlist) == 1,
                               within=5)
                held = await gate.scan(frame)
                assert held.decision.verdict == "secondary", held.decision.reasons
                assert "watchlist_detain" in held.event.reasons and "watchlist_deny" not in held.event.reasons
                await wait_for(lambda: hit_stored(held.event.event_id, e2["id"], "detain"), within=10)

            # a deactivated list leaves the gate; reactivated, it comes back
            await conn.execute("UPDATE watchlists SET active = false WHERE id = $1", watch["id"])
            await wait_for(lambda: len(gate.cache.watchlist) == 0, within=5)
            await conn.execute("UPDATE watchlists SET active = true WHERE id = $1", watch["id"])
            await wait_for(lambda: e2["id"] in gate.cache.watchlist, within=5)
            version = gate.cache.version
        finally:
            await gate.stop()
        print(f"watchlist entry reached the gate in {latency * 1000:.0f} ms (incl. photo encoding)")

        # restarted with no server: the persisted watchlist still screens
        from command.db.embedded import free_port

        offline = _gate(server, tmp_path, url=f"ws://127.0.0.1:{free_port()}/ws/gate")
        await offline.start()
        try:
            assert offline.cache.version == version and search(
                offline.cache.watchlist, ENGINE, person.encoding, threshold=ENGINE.thresholds.screen)
            assert e2["id"] in offline.cache.watchlist and len(offline.cache.watchlist) == 1
            again = await offline.scan(frame)
            assert again.decision.verdict == "secondary" and "watchlist_detain" in again.event.reasons
        finally:
            await offline.stop()
    finally:
        await conn.close()
