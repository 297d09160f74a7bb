"""人证票合一 at the gate: ID reads checked (pure, table-driven), and matched with the ticket holder
on the real gate app with real photos (the holder's ID hash and the HMAC key synced; the chip
photo compared 1:1 with the live face by the gate's engine)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import pytest
from aiohttp import web
from support import shared

from command.db.embedded import free_port
from eventguard import tickets
from eventguard.identity import build_frame, keyed_hash
from eventguard.wire import HolderFace, ListSync, PublicKey
from gate.app import TerminalConfig, create_gate_app
from gate.idcheck import IdRead, IdReadError, id_check, read_frame, read_number
from gate.service import GateCache, GateConfig, GateService
from vision.engine import DEFAULT_ENGINE, spec

TODAY = date(2026, 12, 1)
KEY = bytes(range(32))
HOLDER = "110105198001010016"  # valid: region 110105, born 1980-01-01, check digit 6
OTHER = "110108199003071238"
TOKEN = "terminal-token-idcheck-0123456789"
EVENT = "ev-id"


# ---- pure: reads and the match ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "outcome"), [
    (HOLDER, HOLDER),
    (" 11010519491231002x ", "11010519491231002X"),  # spaces and a lower-case x: normalised
    ("110105198001010017", "bad_id_number"),  # check digit
    ("110105198002300010", "bad_id_number"),  # 30 February
    ("990105198001010010", "bad_id_number"),  # no such region
    ("11010519800101001", "bad_id_number"),  # 17 characters
])
def test_typed_numbers_are_checked(text: str, outcome: str) -> None:
    if outcome.startswith("bad"):
        with pytest.raises(IdReadError) as err:
            read_number(text, TODAY)
        assert err.value.code == outcome
    else:
        assert read_number(text, TODAY).number == outcome


JPEG = b"\xff\xd8\xff\xe0" + bytes(40)


@pytest.mark.parametrize(("frame", "outcome"), [
    (build_frame(name="张三", number=HOLDER, valid_until="20300101", photo=JPEG), (HOLDER, False, JPEG)),
    (build_frame(name="张三", number=HOLDER, valid_until="长期", photo=b"WLT-bytes"), (HOLDER, False, b"")),
    (build_frame(name="张三", number=HOLDER, valid_until="20200101"), (HOLDER, True, b"")),
    (build_frame(name="张三", number="110105198001010017"), "bad_id_number"),
    (build_frame(name="张三", number=HOLDER)[:-1] + b"\x00", "bad_id_frame"),
    (b"\xaa\xaa", "bad_id_frame"),
])
def test_reader_frames_are_parsed_and_checked(frame: bytes, outcome: Any) -> None:
    if isinstance(outcome, str):
        with pytest.raises(IdReadError) as err:
            read_frame(frame, TODAY)
        assert err.value.code == outcome
    else:
        read = read_frame(frame, TODAY)
        assert (read.number, read.expired, read.photo) == outcome


@pytest.mark.parametrize(("number", "key", "registered", "matches"), [
    (HOLDER, KEY, keyed_hash(KEY, HOLDER), True),
    (OTHER, KEY, keyed_hash(KEY, HOLDER), False),
    (HOLDER, bytes(32), keyed_hash(KEY, HOLDER), False),  # another installation's key
    (HOLDER, KEY, None, None),  # no registered ID on this gate
    (HOLDER, KEY, b"", None),
    (HOLDER, b"", keyed_hash(KEY, HOLDER), None),  # no key synced yet
])
def test_the_read_matches_the_holders_keyed_hash(number: str, key: bytes, registered: bytes | None,
                                                 matches: bool | None) -> None:
    assert id_check(IdRead(number), key=key, registered=registered).matches is matches


# ---- the real gate app, real photos ------------------------------------------------------------


def _jpeg(frame: Any, size: tuple[int, int] | None = None) -> bytes:
    if size is not None:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buf.tobytes())


def _material(faces: Path) -> dict[str, Any]:
    """Blocking: the holder (Obama) at the lane, his registered embedding, chip photos of him
    (another photo) and of someone else (Biden), at the size ID chips hold (102 x 126)."""
    from sim.frames import load_person

    obama = load_person(faces / "examples__obama.jpg")
    chip_obama = load_person(faces / "examples__obama2.jpg").crop
    chip_biden = load_person(faces / "examples__biden.jpg").crop
    return {"person": obama, "chip_holder": _jpeg(chip_obama, (102, 126)),
            "chip_other": _jpeg(chip_biden, (102, 126))}


async def test_the_gate_matches_the_id_read_with_the_ticket_holder(tmp_path: Path) -> None:
    from sim.frames import compose, qr_image

    m = await asyncio.to_thread(_material, shared("faces", "images"))
    person = m["person"]
    key = tickets.new_key()
    rid = uuid.uuid4().hex
    engine = spec(DEFAULT_ENGINE)
    cfg = GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "N1.sqlite", workers=1)
    svc = GateService(cfg, GateCache())
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert await svc.apply_sync(ListSync(
        event_id=EVENT, version=1, since_version=0, full=True, keys=(PublicKey(key_id=1, public_key=raw),),
        holders_added=(HolderFace(registration_id=rid, model_id=engine.model_id,
                                  encoding=person.encoding.astype("<f8").tobytes(), name="Barack Obama",
                                  id_hash=keyed_hash(KEY, HOLDER)),),
        id_key=KEY))
    runner = web.AppRunner(create_gate_app(svc, TerminalConfig(token=TOKEN)), shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"

    def lane_frame() -> bytes:
        now = int(time.time())
        t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=rid, entrances=(),
                           valid_from=now - 60, valid_until=now + 3600, issued_at=now, key_id=1)
        ok, png = cv2.imencode(".png", compose(person.crop, qr_image(tickets.sign(t, key))))
        assert ok
        return bytes(png.tobytes())

    async def scan(s: aiohttp.ClientSession, **id_fields: Any) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("image", lane_frame(), filename="f.png", content_type="image/png")
        for name, value in id_fields.items():
            if isinstance(value, bytes):
                form.add_field(name, value, filename="card.bin", content_type="application/octet-stream")
            else:
                form.add_field(name, value)
        async with s.post(f"{base}/scan", data=form) as r:
            body: dict[str, Any] = await r.json()
            assert r.status == 200 or id_fields, body
            body["status"] = r.status
            return body

    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            plain = await scan(s)  # no ID read: the lane decides as before
            assert plain["verdict"] == "admit" and not any(r.startswith("id_") for r in plain["reasons"])
            # the holder's own number, typed: a match, recorded on the decision
            typed = await scan(s, id_number=HOLDER)
            assert (typed["verdict"], typed["reasons"]) == ("admit", ["ticket_valid", "face_match", "id_match"])
            event = svc.journal.get(typed["event_id"])
            assert event is not None and "id_match" in event.reasons
            # someone else's (valid) number read at the terminal first: the next scan goes to a steward
            async with s.post(f"{base}/api/idcheck", json={"lane": 0, "number": OTHER},
                              headers={"Origin": base}) as r:
                assert r.status == 200 and (await r.json())["last4"] == OTHER[-4:]
            other = await scan(s)
            assert other["verdict"] == "secondary" and "id_mismatch" in other["reasons"], other
            assert other["event_id"] in svc.checks  # an open check for a steward
            # a typo is refused at once with what is wrong: the lane reads again
            async with s.post(f"{base}/api/idcheck", json={"number": "110105198001010017"},
                              headers={"Origin": base}) as r:
                assert r.status == 400 and (await r.json())["error"] == "bad_id_number"
            bad = await scan(s, id_number="990105198001010010")
            assert (bad["status"], bad["error"]) == (400, "bad_id_number")
            # the card reader's frame with the holder's chip photo: number and photo match
            card = build_frame(name="奥巴马", number=HOLDER, valid_until="20300101", photo=m["chip_holder"])
            same = await scan(s, id_frame=card)
            assert same["verdict"] == "admit", same
            assert same["reasons"] == ["ticket_valid", "face_match", "id_match", "id_photo_match"]
            # the holder's number on a card whose chip photo is someone else: to a steward
            forged = build_frame(name="奥巴马", number=HOLDER, valid_until="20300101", photo=m["chip_other"])
            swapped = await scan(s, id_frame=forged)
            assert swapped["verdict"] == "secondary" and "id_photo_mismatch" in swapped["reasons"], swapped
            assert "id_photo" in swapped["stage_ms"]
    finally:
        await runner.cleanup()
