"""Holder cards (issue 15): the registered photo, name and ID hash reach only the gates that may
admit the holder, and a gate keeps them sealed on disk. Real PostgreSQL, a real photo."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import pytest
from support import insert_registration, shared

from command import holder_cards, photo_seal, sync_store
from eventguard.identity import keyed_hash
from gate.listcache import FaceFilter, ListCache
from vision.engine import DEFAULT_ENGINE, spec
from vision.image import decode_bytes

EVENT = "demo-2026"
ID_KEY = bytes(range(32))
NUMBER = "11010519491231002X"


async def test_only_gates_that_may_admit_the_holder_get_the_card_and_it_is_sealed_on_disk(
        conn: asyncpg.Connection, tmp_path: Path) -> None:
    photo = shared("faces", "images", "examples__obama.jpg").read_bytes()
    key = photo_seal.load_key(photo_seal.key_path(tmp_path / "keys"))
    rid = await insert_registration(conn, EVENT, entrances=("S1",))
    await conn.execute("UPDATE registrations SET name = 'Barack Obama', photo_sealed = $1, id_hmac = $2"
                       " WHERE registration_id = $3", photo_seal.seal(key, photo, photo_seal.registration_owner(rid)),
                       keyed_hash(ID_KEY, NUMBER), rid)
    maker = holder_cards.PhotoCache(photo_seal.KeyFile(photo_seal.key_path(tmp_path / "keys")))

    s1 = await sync_store.changes(conn, EVENT, 0, gate_id="S1", photo=maker, id_key=ID_KEY)
    n1 = await sync_store.changes(conn, EVENT, 0, gate_id="N1", photo=maker, id_key=ID_KEY)
    got = [h for m in s1 for h in m.holders_added]
    assert [h.registration_id for h in got] == [rid]
    small = got[0].photo
    assert small.startswith(b"\xff\xd8") and 1000 < len(small) <= holder_cards.MAX_BYTES
    assert max(decode_bytes(small).shape[:2]) <= holder_cards.MAX_SIDE
    assert got[0].name == "Barack Obama" and got[0].id_hash == keyed_hash(ID_KEY, NUMBER)
    assert [h for m in n1 for h in m.holders_added] == []  # N1 may not admit this holder: nothing of it

    lists = ListCache(tmp_path / "gate" / "S1.sqlite.lists")
    for m in s1:
        lists.save(m)
    lists.close()
    folder = tmp_path / "gate"
    on_disk = b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("S1.sqlite.lists"))
    for secret in (small[:64], small[len(small) // 2:len(small) // 2 + 64], b"Barack Obama", ID_KEY,
                   keyed_hash(ID_KEY, NUMBER)):
        assert secret not in on_disk  # (the WAL file included)
    key_file = folder / "S1.sqlite.lists.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700

    again = ListCache(tmp_path / "gate" / "S1.sqlite.lists")  # a restarted gate opens its cards
    try:
        card = again.card(rid)
        assert card is not None and (card.name, card.photo) == ("Barack Obama", small)
        assert again.load(FaceFilter(spec(DEFAULT_ENGINE))).id_key == ID_KEY
    finally:
        again.close()
    key_file.write_bytes(bytes(32))  # another key: the cards do not open (never garbage)
    other = ListCache(tmp_path / "gate" / "S1.sqlite.lists")
    try:
        assert other.card(rid) is None
    finally:
        other.close()


def test_photos_are_made_once_for_every_gate_within_a_byte_budget(tmp_path: Path) -> None:
    photo = shared("faces", "images", "examples__obama.jpg").read_bytes()
    key_file = photo_seal.KeyFile(photo_seal.key_path(tmp_path / "keys"))
    sealed = {r: photo_seal.seal(key_file.get(), photo, photo_seal.registration_owner(r)) for r in ("r1", "r2")}
    cache = holder_cards.PhotoCache(key_file, max_bytes=len(holder_cards.thumbnail(photo)) + 10)
    first = cache("r1", sealed["r1"])
    assert cache("r1", sealed["r1"]) == first and cache.hits == 1  # another gate's sync: not made again
    cache("r2", sealed["r2"])  # over budget: r1 is dropped
    assert cache.size <= cache.max_bytes
    cache("r1", sealed["r1"])
    assert cache.hits == 1


def test_a_thumbnail_is_capped_and_a_damaged_seal_sends_no_photo(tmp_path: Path) -> None:
    photo = shared("faces", "images", "examples__biden.jpg").read_bytes()
    tiny = holder_cards.thumbnail(photo, max_bytes=4000)
    assert tiny.startswith(b"\xff\xd8") and len(tiny) <= 4000
    key = bytes(32)
    sealed = photo_seal.seal(key, photo, photo_seal.registration_owner("r1"))
    assert holder_cards.registered_photo(key, "r1", sealed).startswith(b"\xff\xd8")
    assert holder_cards.registered_photo(key, "r2", sealed) == b""  # another row's seal
    assert holder_cards.registered_photo(key, "r1", sealed[:-1] + b"\0") == b""
    not_an_image = photo_seal.seal(key, b"GIF89a....", photo_seal.registration_owner("r1"))
    assert holder_cards.registered_photo(key, "r1", not_an_image) == b""


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_gate_key_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    ListCache(tmp_path / "g.lists").close()
    (tmp_path / "g.lists.key").chmod(mode)
    with pytest.raises(ValueError, match="chmod 600"):
        ListCache(tmp_path / "g.lists")
