"""The gate's list file keeps faces sealed: a copy of it holds no usable embedding; the key is a
separate 0600 file; faces written in clear by an older gate are sealed on open; a lost key
drops the faces and makes the gate ask for everything again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from command import sync_store
from eventguard.codes import WatchSeverity
from eventguard.wire import HolderFace, ListSync, PublicKey, WatchFace
from gate.listcache import SEALED, FaceFilter, ListCache
from vision.engine import EngineName, spec

SFACE = spec(EngineName.SFACE)


def _enc(seed: int) -> bytes:
    v = np.random.default_rng(seed).normal(size=128)
    return sync_store.encoding_bytes((v / np.linalg.norm(v)).tolist())


def _sync() -> ListSync:
    return ListSync(event_id="ev", version=3, since_version=0, full=True,
                    keys=(PublicKey(key_id=1, public_key=bytes(32)),),
                    holders_added=(HolderFace(registration_id="r1", model_id=SFACE.model_id, encoding=_enc(1)),),
                    watch_added=(WatchFace(entry_id="w1", list_id="l", severity=WatchSeverity.DENY,
                                           model_id=SFACE.model_id, encoding=_enc(2)),))


def _blobs(path: Path) -> list[bytes]:
    with sqlite3.connect(path) as db:
        return [bytes(r[0]) for r in db.execute("SELECT encoding FROM holders UNION ALL SELECT encoding FROM watch")]


def test_faces_are_sealed_at_rest_and_open_with_their_key(tmp_path: Path) -> None:
    path = tmp_path / "gate" / "N1.lists"
    lc = ListCache(path)
    lc.save(_sync())
    lc.close()
    assert (tmp_path / "gate" / "N1.lists.key").stat().st_mode & 0o777 == 0o600
    blobs = _blobs(path)
    assert len(blobs) == 2 and all(b.startswith(SEALED) for b in blobs)
    assert not any(_enc(1) in b or _enc(2) in b for b in blobs)  # no clear embedding in the file
    got = ListCache(path).load(FaceFilter(SFACE))
    assert got.version == 3 and np.allclose(got.holders["r1"], np.frombuffer(_enc(1), "<f8"))
    assert [e.entry_id for e in got.watch] == ["w1"]

    # the key lost (or the file copied elsewhere): nothing opens, and the gate starts over
    (tmp_path / "gate" / "N1.lists.key").unlink()
    lost = ListCache(path).load(FaceFilter(SFACE))
    assert (lost.version, lost.holders, lost.watch) == (0, {}, [])


def test_faces_an_older_gate_wrote_in_clear_are_sealed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "N1.lists"
    ListCache(path).save(_sync())
    with sqlite3.connect(path) as db:  # as a gate before sealing wrote them
        db.execute("UPDATE holders SET encoding = ?", (_enc(1),))
    assert not _blobs(path)[0].startswith(SEALED)
    got = ListCache(path).load(FaceFilter(SFACE))
    assert np.allclose(got.holders["r1"], np.frombuffer(_enc(1), "<f8"))
    assert all(b.startswith(SEALED) for b in _blobs(path))


def test_the_key_can_live_elsewhere(tmp_path: Path) -> None:
    key = tmp_path / "secure" / "lists.key"
    ListCache(tmp_path / "N1.lists", key).save(_sync())
    assert key.stat().st_mode & 0o777 == 0o600 and (key.parent.stat().st_mode & 0o777) == 0o700
    assert not (tmp_path / "N1.lists.key").exists()
    assert "r1" in ListCache(tmp_path / "N1.lists", key).load(FaceFilter(SFACE)).holders
