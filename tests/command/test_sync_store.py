"""Incremental list sync: chunking (pure), change reads on PostgreSQL, and server -> real gate."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import asyncpg
import cv2
import numpy as np
import pytest
from support import Server, face_key, insert_registration, shared, wait_for

from command import issuing, registration, sync_store
from command.registration import TicketPlan
from command.sync_store import Change
from eventguard.wire import ListSync, PublicKey, decode_server_message, encode
from gate.listcache import FaceFilter, ListCache, applies
from gate.service import GateCache, GateConfig, GateService
from vision.engine import DEFAULT_ENGINE, DLIB_MODEL_ID, EngineName, spec
from vision.image import Frame, read_file

EVENT = "demo-2026"
KEYS = (PublicKey(key_id=1, public_key=bytes(32)),)
ENGINE = spec(DEFAULT_ENGINE)
MODEL = ENGINE.model_id


def _enc(seed: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(0, 0.1, 128)]


# ---- pure ---------------------------------------------------------------------------------


def test_chunks_are_ordered_resumable_and_under_budget() -> None:
    changes = [Change(v, "holder_added", f"r{v}", sync_store.encoding_bytes(_enc(v)), MODEL) if v % 3
               else Change(v, "revoked", f"t{v}") for v in range(11, 41)]
    msgs = sync_store.chunk(EVENT, 10, 50, KEYS, changes, full=True, budget=6000)
    assert len(msgs) > 3
    assert [m.full for m in msgs] == [True] + [False] * (len(msgs) - 1)
    assert [m.more for m in msgs] == [True] * (len(msgs) - 1) + [False]
    assert msgs[0].since_version == 10 and msgs[-1].version == 50
    for a, b in zip(msgs, msgs[1:], strict=False):
        assert b.since_version == a.version  # each chunk resumes where the last ended
    got = [r for m in msgs for r in (*m.revoked, *(h.registration_id for h in m.holders_added))]
    assert sorted(got) == sorted(c.ref for c in changes)
    for m in msgs:
        assert len(encode(m)) <= 6000 + 1500
        assert decode_server_message(encode(m)) == m
    version = 10
    for m in msgs:
        assert applies(version, m)
        version = m.version
    assert not applies(50, msgs[1])  # a replayed old chunk is not applied
    assert sync_store.chunk(EVENT, 7, 7, KEYS, [], full=False) == [
        ListSync(event_id=EVENT, version=7, since_version=7, keys=KEYS)]


def test_list_cache_persists_and_full_replaces(tmp_path: Path) -> None:
    lc = ListCache(tmp_path / "g.lists")
    mine = FaceFilter(ENGINE)
    first = sync_store.chunk(EVENT, 0, 5, KEYS, [Change(2, "revoked", "t1"),
                                           Change(3, "holder_added", "r1", sync_store.encoding_bytes(_enc(1)), MODEL),
                                           Change(4, "holder_added", "r2", sync_store.encoding_bytes(_enc(2)), MODEL),
                                           Change(5, "holder_added", "r3", sync_store.encoding_bytes(_enc(3)),
                                                  DLIB_MODEL_ID)],
                       full=True)[0]
    lc.save(first)
    lc.save(sync_store.chunk(EVENT, 5, 6, KEYS, [Change(6, "holder_removed", "r1")], full=False)[0])
    lc.close()
    got = ListCache(tmp_path / "g.lists").load(mine)
    assert (got.version, got.event_id, got.revoked, set(got.holders)) == (6, EVENT, {"t1"}, {"r2"})
    assert got.ignored_holders == 1  # r3 was made by another model: kept on disk, never compared
    assert np.allclose(got.holders["r2"], _enc(2)) and got.keys == {1: bytes(32)}
    dlib = ListCache(tmp_path / "g.lists").load(FaceFilter(spec(EngineName.DLIB_NUMPY)))
    assert set(dlib.holders) == {"r3"} and dlib.ignored_holders == 1  # a dlib gate sees only r3
    lc = ListCache(tmp_path / "g.lists")
    lc.save(sync_store.chunk(EVENT, 0, 9, KEYS, [Change(8, "revoked", "t9")], full=True)[0])
    got = lc.load(mine)
    assert (got.version, got.revoked, got.holders) == (9, {"t9"}, {})
    lc.close()


def test_a_list_file_from_before_model_ids_holds_dlib_faces(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.lists"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE holders (registration_id TEXT PRIMARY KEY, encoding BLOB NOT NULL);
        CREATE TABLE watch (entry_id TEXT PRIMARY KEY, list_id TEXT NOT NULL, severity TEXT NOT NULL,
                            encoding BLOB NOT NULL);""")
    db.execute("INSERT INTO holders VALUES ('r1', ?)", (sync_store.encoding_bytes(_enc(1)),))
    db.execute("INSERT INTO watch VALUES ('w1', 'l', 'deny', ?)", (sync_store.encoding_bytes(_enc(2)),))
    db.commit()
    db.close()
    lc = ListCache(path)
    try:
        old = lc.load(FaceFilter(spec(EngineName.DLIB_NUMPY)))
        assert set(old.holders) == {"r1"} and [e.entry_id for e in old.watch] == ["w1"]
        new = lc.load(FaceFilter(ENGINE))
        assert (new.holders, new.watch, new.ignored_holders, new.ignored_watch) == ({}, [], 1, 1)
    finally:
        lc.close()


# ---- PostgreSQL ---------------------------------------------------------------------------


async def _register(conn: asyncpg.Connection, event_id: str = EVENT, seed: int = 1,
                    entrances: tuple[str, ...] = ()) -> str:
    return await insert_registration(conn, event_id, encoding=_enc(seed), entrances=entrances)


async def _ticket(conn: asyncpg.Connection, key_dir: Path, **kw: object) -> tuple[str, str]:
    key_id, key = await issuing.latest_key(conn, EVENT, key_dir)
    now = int(time.time())
    t, payload = await issuing.issue(conn, event_id=EVENT, key_id=key_id, key=key, valid_from=now - 60,
                                       valid_until=now + 3600, now=now, **kw)  # type: ignore[arg-type]
    return t.ticket_id, payload


async def test_changes_full_then_incremental(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await issuing.create_key(conn, EVENT, tmp_path)
    r1, r2 = await _register(conn, seed=1), await _register(conn, seed=2)
    await _register(conn, event_id="other", seed=3)
    t1, _ = await _ticket(conn, tmp_path)
    t2, _ = await _ticket(conn, tmp_path)
    await issuing.revoke(conn, t1, "lost")
    await registration.remove(conn, r2)

    full = await sync_store.changes(conn, EVENT, 0)
    assert len(full) == 1 and full[0].full and full[0].since_version == 0
    m = full[0]
    assert m.revoked == (t1,) and [h.registration_id for h in m.holders_added] == [r1]
    assert m.holders_removed == () and [k.key_id for k in m.keys] == [1]
    assert np.allclose(np.frombuffer(m.holders_added[0].encoding, "<f8"), _enc(1))
    assert m.holders_added[0].model_id == MODEL  # every face says which model made it
    w = m.version
    assert await sync_store.changes(conn, EVENT, w, known_keys=m.keys) == []  # nothing new
    assert len(await sync_store.changes(conn, EVENT, w)) == 1  # keys unknown to the caller: sent

    await issuing.revoke(conn, t2, "fraud")
    await registration.remove(conn, r1)
    r3 = await _register(conn, seed=4)
    inc = await sync_store.changes(conn, EVENT, w, known_keys=m.keys)
    assert len(inc) == 1 and not inc[0].full and inc[0].since_version == w
    assert inc[0].revoked == (t2,) and inc[0].holders_removed == (r1,)
    assert [h.registration_id for h in inc[0].holders_added] == [r3]
    # a gate ahead of the server (database rebuilt) gets a full sync
    ahead = await sync_store.changes(conn, EVENT, inc[0].version + 1000)
    assert ahead[0].full and set(ahead[0].revoked) == {t1, t2}
    assert [h.registration_id for h in ahead[0].holders_added] == [r3]


async def test_a_gate_gets_only_the_holders_it_may_admit(conn: asyncpg.Connection) -> None:
    anywhere = await _register(conn, seed=1)
    north = await _register(conn, seed=2, entrances=("N1", "N2"))
    south = await _register(conn, seed=3, entrances=("S1",))

    def holders(msgs: list[ListSync]) -> tuple[set[str], set[str]]:
        return ({h.registration_id for m in msgs for h in m.holders_added},
                {r for m in msgs for r in m.holders_removed})

    full = await sync_store.changes(conn, EVENT, 0, gate_id="N1")
    assert holders(full) == ({anywhere, north}, set())
    assert holders(await sync_store.changes(conn, EVENT, 0, gate_id="S1")) == ({anywhere, south}, set())
    assert holders(await sync_store.changes(conn, EVENT, 0)) == ({anywhere, north, south}, set())  # tools: all
    w = full[-1].version
    # entrances change: north leaves N1 (removed there), south now admits N1 (added there)
    await conn.execute("UPDATE registrations SET entrances = '{N2}' WHERE registration_id = $1", north)
    await conn.execute("UPDATE registrations SET entrances = '{S1,N1}' WHERE registration_id = $1", south)
    inc = await sync_store.changes(conn, EVENT, w, gate_id="N1", known_keys=full[-1].keys)
    assert holders(inc) == ({south}, {north})
    assert np.allclose(np.frombuffer(inc[0].holders_added[0].encoding, "<f8"), _enc(3))
    w2 = inc[-1].version
    # an update that does not touch what gates hold is no news
    await conn.execute("UPDATE registrations SET name = 'M' WHERE registration_id = $1", anywhere)
    assert await sync_store.changes(conn, EVENT, w2, gate_id="N1", known_keys=full[-1].keys) == []


async def test_watermark_waits_for_a_writer_that_numbered_but_has_not_committed(
        db_url: str, conn: asyncpg.Connection) -> None:
    writer = await asyncpg.connect(db_url)
    try:
        tx = writer.transaction()
        await tx.start()
        rid = await _register(writer)
        mine = await writer.fetchval("SELECT sync_version FROM registrations WHERE registration_id = $1", rid)
        await _register(conn)  # a later number, committed first
        reader = asyncio.create_task(sync_store.changes(conn, EVENT, 0))
        await asyncio.sleep(0.3)
        assert not reader.done()  # the reader may not report past the uncommitted number
        await tx.commit()
        msgs = await asyncio.wait_for(reader, 5)
        assert msgs[-1].version > mine
        assert rid in {h.registration_id for m in msgs for h in m.holders_added}
    finally:
        await writer.close()


# ---- server -> gate -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = shared("faces", "images")
    d = tmp_path_factory.mktemp("sync-photos")
    for name in ("examples__obama.jpg", "examples__biden.jpg"):
        (d / name).symlink_to(src / name)
    return d


def _frame(face: Path, qr_png: Path) -> Frame:
    """640x480 camera frame: the face photo on the left half, the ticket QR on the right."""
    canvas = np.full((480, 640, 3), 255, np.uint8)
    img = read_file(face)
    s = min(320 / img.shape[1], 480 / img.shape[0])
    img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    canvas[: img.shape[0], : img.shape[1]] = img
    qr = read_file(qr_png)
    assert qr.shape[0] <= 300 and qr.shape[1] <= 300, qr.shape
    y = (480 - qr.shape[0]) // 2
    canvas[y : y + qr.shape[0], 330 : 330 + qr.shape[1]] = qr
    return canvas


def _gate(server: Server, tmp_path: Path, url: str | None = None) -> GateService:
    cfg = GateConfig(gate_id="N1", event_id=EVENT, server_url=url or f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite",
                     face_required=True, workers=1)
    return GateService(cfg, GateCache())  # no keys, no lists: everything comes by sync


async def test_revocation_and_faces_reach_a_gate_that_then_works_offline(
        server: Server, photos: Path, tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(registration.COLUMNS)
        w.writerow(["Barack Obama", "110101199001011237", "vip", "N1", "examples__obama.jpg"])
        w.writerow(["Joe Biden", "110101199202022346", "standard", "", "examples__biden.jpg"])
    conn = await asyncpg.connect(server.db_url)
    try:
        key_id, key = await issuing.latest_key(conn, EVENT, tmp_path / "keys")
        now = int(time.time())
        summary = await registration.import_csv(
            conn, path, photos, event_id=EVENT, secret=bytes(32), photo_key=None, face_key=face_key(tmp_path), workers=1,
            tickets_plan=TicketPlan(key_id, key, valid_from=now - 60, valid_until=now + 3600, now=now))
        obama, biden = (r for r in summary.rows)
        assert obama.payload and biden.payload and obama.ticket_id
        pngs = {r.ticket_id: issuing.render_png(r.payload or "", tmp_path / f"{r.ticket_id}.png", scale=5)
                for r in summary.rows}
        gate = _gate(server, tmp_path)
        await gate.start()
        try:
            await wait_for(lambda: len(gate.cache.holders) == 2 and gate.cache.keys, within=10)
            assert set(gate.cache.holders) == {obama.registration_id, biden.registration_id}
            face2 = shared("faces", "images", "tests__obama2.jpg")
            # Biden with Obama's ticket first: a ticket admitted earlier would be already inside
            # (the server pushes presence back at any moment, so clearing it locally races)
            swapped = await gate.scan(_frame(photos / "examples__biden.jpg", pngs[obama.ticket_id]))
            assert swapped.decision.verdict == "secondary", swapped.decision.reasons
            assert "face_mismatch" in swapped.event.reasons
            ok = await gate.scan(_frame(face2, pngs[obama.ticket_id]))
            assert ok.decision.verdict == "admit", ok.decision.reasons
            assert "face_match" in ok.event.reasons and ok.face_distance is not None
            impostor = await gate.scan(_frame(photos / "examples__biden.jpg", pngs[biden.ticket_id]))
            assert impostor.decision.verdict == "admit"  # Biden with his own ticket

            # revoke through the same function the CLI uses; the gate hears it by LISTEN/NOTIFY
            t0 = time.perf_counter()
            assert await issuing.revoke(conn, obama.ticket_id, "reported stolen")
            await wait_for(lambda: obama.ticket_id in gate.cache.revoked, within=3)
            latency = time.perf_counter() - t0
            denied = await gate.scan(_frame(face2, pngs[obama.ticket_id]))
            assert denied.decision.verdict == "deny" and "ticket_revoked" in denied.event.reasons
            # withdrawing a registration removes the face from the gate
            assert await registration.remove(conn, biden.registration_id or "")
            await wait_for(lambda: biden.registration_id not in gate.cache.holders, within=3)
            version = gate.cache.version
        finally:
            await gate.stop()
        print(f"revocation reached the gate in {latency * 1000:.0f} ms")
        assert latency < 2.0

        # restarted with no network: the persisted lists still decide
        from command.db.embedded import free_port

        offline = _gate(server, tmp_path, url=f"ws://127.0.0.1:{free_port()}/ws/gate")
        await offline.start()
        try:
            assert offline.cache.version == version and offline.cache.keys
            again = await offline.scan(_frame(face2, pngs[obama.ticket_id]))
            assert "ticket_revoked" in again.event.reasons
            assert biden.registration_id not in offline.cache.holders
        finally:
            await offline.stop()
    finally:
        await conn.close()
