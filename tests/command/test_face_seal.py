"""Face embeddings sealed at rest in PostgreSQL (issue 17, sql/0023, command/face_seal.py):
the table holds no float of a face, clear rows of older versions are converted resumably
without resending them to gates, the gate still admits the registered face and screens the
listed one after sync (real photos), pre-screening still finds its candidate, the app role
cannot read the key, and a wrong key is refused in one line."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from support import Server, face_key, insert_registration, shared, wait_for

from command import face_seal, issuing, photo_seal, prescreen, sync_store
from command.db.embedded import EmbeddedPostgres, free_port
from command.errors import FaceSealError
from eventguard.settings import DEFAULT_VENUE
from gate.service import GateCache, GateConfig, GateService
from shell import cli
from sim import frames
from vision.engine import DEFAULT_ENGINE, spec

ENGINE = spec(DEFAULT_ENGINE)
KEY = bytes(range(32))


def test_a_sealed_embedding_opens_only_for_its_row_its_model_and_its_key() -> None:
    v = np.random.default_rng(1).normal(size=128)
    sealed = face_seal.seal(KEY, v, "registration:r1", ENGINE.model_id)
    assert v.astype("<f8").tobytes()[:16] not in sealed and len(sealed) == 4 + 8 + 12 + 1024 + 16
    assert np.array_equal(face_seal.unseal(KEY, sealed, "registration:r1", ENGINE.model_id), v)
    for owner, model, key, says in (("registration:r2", ENGINE.model_id, KEY, "not this row's or model's"),
                                    ("registration:r1", "dlib-resnet-v1", KEY, "not this row's or model's"),
                                    ("registration:r1", ENGINE.model_id, bytes(32), "under another key")):
        with pytest.raises(FaceSealError, match=says):
            face_seal.unseal(key, sealed, owner, model)
    photo = photo_seal.seal(KEY, b"\xff\xd8jpeg", "registration:r1")  # a sealed photo never opens as a face
    with pytest.raises(FaceSealError, match="not a sealed face"):
        face_seal.unseal(KEY, photo, "registration:r1", ENGINE.model_id)
    with pytest.raises(FaceSealError, match="no photo key"):
        face_seal.stored(None, None, sealed, "registration:r1", ENGINE.model_id)
    assert np.array_equal(face_seal.stored(None, v.tolist(), None, "registration:r1", ENGINE.model_id), v)


async def test_clear_rows_are_sealed_resumably_and_the_gate_still_admits_and_screens(
        server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows written in clear (before sql/0023) are converted by `eventguard db seal-encodings` in
    batches (an interrupted run resumes), keep their sync version (nothing resent), and a gate
    synced from them admits Obama on another photo and holds Biden, who is listed."""
    faces = shared("faces", "images")
    obama = frames.load_person(faces / "examples__obama.jpg")
    biden = frames.load_person(faces / "examples__biden.jpg")
    listed = frames.embed_photo(faces / "knn__train__biden__biden2.jpg")
    assert listed is not None
    event = server.venue.event.id
    key = face_key(tmp_path)
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, event, encoding=obama.encoding, registration_id=obama.holder_ref)
        others = [await insert_registration(conn, event, encoding=np.full(128, 128 ** -0.5)) for _ in range(2)]
        await conn.execute("INSERT INTO watchlists (id, name, severity, created_by) VALUES ('l1', 'w', 'deny', 't')")
        await conn.execute("INSERT INTO watchlist_entries (id, list_id, label, encoding, added_by, model_id)"
                           " VALUES ('e1', 'l1', 'Biden', $1, 't', $2)", listed.astype("<f8").tobytes(), ENGINE.model_id)
        before = dict(await conn.fetch("SELECT registration_id, sync_version FROM registrations"))
        assert (await face_seal.clear_rows(conn)) == {"registrations": 3, "watchlist_entries": 1}

        def stop_after_one(table: str, n: int) -> None:
            raise RuntimeError("interrupted")  # the run dies after its first batch

        with pytest.raises(RuntimeError, match="interrupted"):
            await face_seal.seal_clear_rows(conn, key, batch=1, progress=stop_after_one)
        assert (await face_seal.clear_rows(conn))["registrations"] == 2  # the first batch stayed sealed
        argv = ["db", "seal-encodings", "--venue", str(DEFAULT_VENUE), "--database-url", server.db_url,
                "--key-dir", str(tmp_path / "keys")]
        capsys.readouterr()
        assert await asyncio.to_thread(cli.main, argv) == 0
        out = capsys.readouterr().out
        assert "registrations: 2 sealed now, 0 still clear" in out and "watchlist_entries: 1 sealed now" in out

        rows = await conn.fetch("SELECT registration_id, model_id, encoding, encoding_sealed, sync_version"
                                " FROM registrations")
        assert all(r["encoding"] is None for r in rows)  # a SELECT reads no face
        assert obama.encoding.astype("<f8").tobytes()[:16] not in bytes(
            next(r["encoding_sealed"] for r in rows if r["registration_id"] == rid))
        assert {r["registration_id"]: r["sync_version"] for r in rows} == before  # not resent to gates
        assert np.allclose(face_seal.registration_face(key, next(r for r in rows if r["registration_id"] == rid)),
                           obama.encoding)
        assert set(others) < {r["registration_id"] for r in rows}

        # pre-screening opens the sealed rows: Biden registered is a candidate of the sealed entry
        brid = await insert_registration(conn, event, encoding=biden.encoding, sealed_with=key)
        run = await prescreen.prescreen(conn, event, ENGINE, cause="manual", actor="t", face_key=key)
        assert {(c.registration_id, c.entry_id) for c in run.candidates} == {(brid, "e1")}

        key_id, signing = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        _, payload = await issuing.issue(conn, event_id=event, key_id=key_id, key=signing, valid_from=now - 60,
                                         valid_until=now + 3600, now=now, holder_ref=rid)
    finally:
        await conn.close()

    cfg = GateConfig(gate_id="N1", event_id=event, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite", face_required=True,
                     workers=1)
    gate = GateService(cfg, GateCache())  # keys, faces and the list all come by sync
    await gate.start()
    try:
        await wait_for(lambda: rid in gate.cache.holders and "e1" in gate.cache.watchlist and gate.cache.keys,
                       within=15)
        assert np.allclose(gate.cache.holders[rid], obama.encoding)
        ok = await gate.scan(frames.compose(obama.crop, frames.qr_image(payload)))
        assert ok.decision.verdict == "admit" and "face_match" in ok.event.reasons, ok.decision.reasons
        held = await gate.scan(frames.compose(biden.crop, frames.qr_image(f"forged-{uuid.uuid4().hex}")))
        assert held.decision.verdict == "secondary" and "watchlist_deny" in held.event.reasons, held.event.reasons
    finally:
        await gate.stop()


async def test_a_wrong_key_is_refused_in_one_line_and_the_app_role_cannot_read_the_key(
        server: Server, tmp_path: Path, pg: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]) -> None:
    from command import server as command_server
    from eventguard.settings import ServerSettings

    key = face_key(tmp_path)
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, server.venue.event.id, sealed_with=key,
                                        encoding=np.full(128, 128 ** -0.5))
        clear = await insert_registration(conn, server.venue.event.id, encoding=np.full(128, 128 ** -0.5))
        with pytest.raises(FaceSealError, match="sealed under another key"):
            await sync_store.changes(conn, server.venue.event.id, 0, face_key=bytes(32))
    finally:
        await conn.close()

    other = tmp_path / "other-keys"  # a key dir whose photo key did not seal them
    argv = ["db", "seal-encodings", "--venue", str(DEFAULT_VENUE), "--database-url", server.db_url,
            "--key-dir", str(other)]
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "error: face embeddings in registrations were sealed under another key"), err
    app_dsn = pg.app_dsn(server.db_url.rsplit("/", 1)[1])
    with pytest.raises(FaceSealError, match="sealed under another key") as started:
        runner = await command_server.start(ServerSettings(
            port=free_port(), database_url=app_dsn, admin_database_url=server.db_url, key_dir=other), server.venue)
        await runner.cleanup()
    assert "\n" not in str(started.value)
    # with its own key a (re)started server seals the row an older version left in clear
    runner = await command_server.start(ServerSettings(
        port=free_port(), database_url=app_dsn, admin_database_url=server.db_url, key_dir=tmp_path / "keys"),
        server.venue)
    await runner.cleanup()
    conn = await asyncpg.connect(server.db_url)
    try:
        assert await conn.fetchval("SELECT encoding IS NULL AND encoding_sealed IS NOT NULL FROM registrations"
                                   " WHERE registration_id = $1", clear)
    finally:
        await conn.close()

    # the command server's role can read neither the key file nor write a registration's face
    path = photo_seal.key_path(tmp_path / "keys")
    assert path.stat().st_mode & 0o777 == 0o600
    app = await asyncpg.connect(pg.app_dsn(server.db_url.rsplit("/", 1)[1]))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.fetchval("SELECT pg_read_binary_file($1)", str(path))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("UPDATE registrations SET encoding_sealed = NULL WHERE registration_id = $1", rid)
        assert await app.fetchval("SELECT encoding FROM registrations WHERE registration_id = $1", rid) is None
    finally:
        await app.close()
