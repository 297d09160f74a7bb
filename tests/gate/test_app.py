"""The gate's own web app on loopback: auth, POST /scan (raw, multipart, limits, bad images),
/api/state, /ws/terminal pushes, and a watchlist hit journaled while the gate is offline."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import shared

from command.db.embedded import free_port
from eventguard import tickets
from eventguard.codes import WatchSeverity
from gate.app import ADMISSION, TerminalConfig, create_gate_app
from gate.service import GateCache, GateConfig, GateService
from sim import frames
from vision.image import Frame, decode_bytes
from vision.index import WatchEntry

TOKEN = "terminal-token-0123456789abcdef"
EVENT = "ev-test"


@dataclass
class Gate:
    url: str
    service: GateService
    key: Ed25519PrivateKey


def _payload(key: Ed25519PrivateKey, holder: str | None = None) -> str:
    now = int(time.time())
    t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=holder, entrances=(),
                       valid_from=now - 60, valid_until=now + 3600, issued_at=now, key_id=1)
    return tickets.sign(t, key)


def _png(frame: Frame) -> bytes:
    ok, buf = cv2.imencode(".png", frame)
    assert ok
    return buf.tobytes()


async def _start(tmp_path: Path, cache: GateCache, *, face_required: bool,
                 **kw: Any) -> tuple[web.AppRunner, str, GateService]:
    cfg = GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "journal.sqlite", face_required=face_required, workers=2, **kw)
    svc = GateService(cfg, cache)
    runner = web.AppRunner(create_gate_app(svc, TerminalConfig(token=TOKEN, max_upload_bytes=2_000_000,
                                                               web_dir=tmp_path / "web")))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", svc


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    key = tickets.new_key()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "gate.html").write_text("<!doctype html><title>gate</title>")
    runner, url, svc = await _start(tmp_path, GateCache(keys={1: key.public_key()}), face_required=False)
    try:
        yield Gate(url, svc, key)
    finally:
        await runner.cleanup()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_token_is_required(gate: Gate) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        for method, path in (("POST", "/scan"), ("GET", "/api/state"), ("GET", "/ws/terminal")):
            async with s.request(method, gate.url + path) as r:
                assert r.status == 401
                assert (await r.json())["error"] == "unauthorized"
            async with s.request(method, gate.url + path, headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
        async with s.get(gate.url + "/") as r:  # the page itself is public; it sets the cookie
            assert r.status == 200 and "gate" in await r.text()
        async with s.get(gate.url + "/?token=" + TOKEN) as r:
            assert r.status == 200
        async with s.get(gate.url + "/api/state") as r:  # cookie from the page visit
            assert r.status == 200
    async with aiohttp.ClientSession() as s, s.get(gate.url + "/api/state?token=" + TOKEN) as r:
        assert r.status == 401  # a token in a URL: websocket upgrades only


async def test_scan_raw_and_multipart_then_state_and_terminal_push(gate: Gate) -> None:
    payload = _payload(gate.key)
    frame = frames.compose(np.full((10, 10, 3), 150, np.uint8), frames.qr_image(payload))
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(f"{gate.url.replace('http', 'ws')}/ws/terminal?token={TOKEN}") as ws:
            hello = json.loads((await ws.receive(timeout=5)).data)
            assert hello["type"] == "terminal_status" and hello["online"] is False
            async with s.post(gate.url + "/scan?lane=1", data=_png(frame), headers=AUTH) as r:
                assert r.status == 200, await r.text()
                body = await r.json()
            assert body["verdict"] == "admit" and body["reasons"] == ["ticket_valid"]
            assert body["ticket_id"] and body["event_id"].startswith("N1:")
            assert set(body) >= {"verdict", "reasons", "ticket_id", "event_id", "stage_ms", "face_distance", "hits"}
            assert body["stage_ms"]["qr"] > 0 and body["hits"] == [] and body["face_distance"] is None
            pushed = json.loads((await ws.receive(timeout=5)).data)
            assert pushed["type"] == "terminal_verdict" and pushed["event_id"] == body["event_id"]
            assert pushed["capture"].startswith("data:image/jpeg;base64,")
            assert pushed["lanes"] == [{"lane": 1, "entry": 1, "exit": 0, "deny": 0, "secondary": 0}]
            assert pushed["online"] is False and pushed["pending"] == 1
            thumb = decode_bytes(base64.b64decode(pushed["capture"].split(",", 1)[1]))
            assert thumb.shape[1] == 160
            # the same ticket again, as multipart: anti-passback denies it
            form = aiohttp.FormData()
            form.add_field("image", _png(frame), filename="scan.png", content_type="image/png")
            async with s.post(gate.url + "/scan?lane=1", data=form, headers=AUTH) as r:
                again = await r.json()
            assert again["verdict"] == "deny" and "already_inside" in again["reasons"]
        async with s.get(gate.url + "/api/state", headers=AUTH) as r:
            st = await r.json()
        assert st["online"] is False and st["pending"] == 2
        assert st["lanes"] == [{"lane": 1, "entry": 1, "exit": 0, "deny": 1, "secondary": 0}]
        assert st["face_model"] == "sface-2021dec-int8bq" and st["faces_ignored"] == {"holders": 0, "watch": 0}


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"", 400, "empty_image"),
    (b"hello, this is not an image", 400, "not_an_image"),
    (b"\xff\xd8\xff\xe0 truncated jpeg", 400, "not_an_image"),
    (_png_header(10_000, 5_000), 400, "image_too_large"),  # 50 MP declared: refused before decoding
    (b"\0" * 2_100_000, 413, "upload_too_large"),  # over this app's 2 MB client_max_size
])
async def test_bad_uploads_get_json_errors(gate: Gate, body: bytes, status: int, code: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(gate.url + "/scan", data=body, headers=AUTH) as r:
        assert r.status == status
        assert r.content_type == "application/json"
        err = await r.json()
        assert err["error"] == code and "Traceback" not in err["message"]
    assert gate.service.journal.pending() == 0  # nothing was decided


async def test_bad_multipart_and_parameters(gate: Gate) -> None:
    async with aiohttp.ClientSession() as s:
        form = aiohttp.FormData()
        form.add_field("photo", b"x", filename="x.png")
        async with s.post(gate.url + "/scan", data=form, headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_request"
        async with s.post(gate.url + "/scan?lane=x", data=b"x", headers=AUTH) as r:
            assert r.status == 400
        async with s.post(gate.url + "/scan?direction=sideways", data=b"x", headers=AUTH) as r:
            assert r.status == 400
        # the probe's lane: refused at the gate's edge with the same field types as the wire,
        # so it never reaches the journal (it used to, and then blocked the uplink)
        for lane in ("3000000000", "-1", "64"):
            async with s.post(gate.url + f"/scan?lane={lane}", data=b"x", headers=AUTH) as r:
                assert r.status == 400
                assert (await r.json())["field"] == "lane"
    assert gate.service.journal.pending() == 0


async def test_watchlist_hit_denies_and_is_journaled_while_offline(tmp_path: Path) -> None:
    """Face path end to end through the app; the hit report waits in the journal (no server)."""
    faces_dir = shared("faces", "images")
    key = tickets.new_key()
    person = frames.load_person(faces_dir / "examples__obama.jpg")
    other = frames.load_person(faces_dir / "examples__obama2.jpg")
    cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: person.encoding})
    cache.watchlist.add(WatchEntry("wl-obama", "list-1", WatchSeverity.DENY, other.encoding))
    runner, url, svc = await _start(tmp_path, cache, face_required=True)
    th = svc.thresholds
    try:
        frame = frames.compose(person.crop, frames.qr_image(_payload(key, person.holder_ref)))
        async with aiohttp.ClientSession() as s, s.post(url + "/scan", data=_png(frame), headers=AUTH) as r:
            body = await r.json()
        assert body["verdict"] == "secondary", body  # a hit holds the person; it never refuses alone
        assert body["reasons"] == ["ticket_valid", "face_match", "watchlist_deny"]
        # the lane's crop of the registered photo: far inside the engine's verify threshold
        assert body["face_distance"] < th.verify / 2
        assert [(h["entry_id"], h["severity"]) for h in body["hits"]] == [("wl-obama", "deny")]
        assert body["hits"][0]["distance"] <= th.screen
        assert set(body["stage_ms"]) == {"qr", "detect", "encode", "search"}
        assert body["face_frames"] == {"assessed": 1, "used": 1}
        hits = svc.journal.unsent_hits()
        assert [(h.event_id, h.entry_id, h.severity) for h in hits] == [(body["event_id"], "wl-obama", "deny")]
    finally:
        await runner.cleanup()


async def test_recent_frames_are_fused_and_the_person_before_is_not(tmp_path: Path) -> None:
    """POST /scan with the lane's recent frames: the same person's are fused with the scanned
    face; a frame of somebody else is dropped; a blurred scan is rescued by a sharp recent frame,
    and with only blurred frames the person goes to a steward. (fuse_band=inf: the recent frames
    are looked at for every scan, not only near a threshold.)"""
    faces_dir = shared("faces", "images")
    key = tickets.new_key()
    person = frames.load_person(faces_dir / "examples__obama.jpg")
    biden = frames.load_person(faces_dir / "examples__biden.jpg")
    cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: person.encoding})
    runner, url, svc = await _start(tmp_path, cache, face_required=True, fuse_band=math.inf)
    blank = np.full((8, 8, 3), 150, np.uint8)
    try:
        async def scan(image: Frame, *recent: Frame) -> dict[str, Any]:
            form = aiohttp.FormData()
            form.add_field("image", _png(image), filename="scan.png", content_type="image/png")
            for f in recent:
                form.add_field("frame", _png(f), filename="f.png", content_type="image/png")
            async with aiohttp.ClientSession() as s, s.post(url + "/scan", data=form, headers=AUTH) as r:
                assert r.status == 200, await r.text()
                return dict(await r.json())

        scanned = frames.compose(person.crop, frames.qr_image(_payload(key, person.holder_ref)))
        smaller = frames.compose(np.ascontiguousarray(cv2.resize(person.crop, None, fx=0.9, fy=0.9)), blank)
        body = await scan(scanned, smaller, frames.compose(biden.crop, blank))
        assert body["verdict"] == "admit" and "face_match" in body["reasons"], body
        assert body["face_frames"] == {"assessed": 3, "used": 2}  # Obama twice; Biden's frame dropped

        blurred = frames.compose(np.ascontiguousarray(cv2.GaussianBlur(person.crop, (0, 0), 6)),
                                 frames.qr_image(_payload(key, person.holder_ref)))  # a sharp QR
        poor = await scan(blurred)
        assert poor["verdict"] == "secondary" and poor["reasons"] == ["ticket_valid", "face_poor_quality"]
        rescued = await scan(blurred, smaller)
        assert rescued["verdict"] == "admit" and rescued["face_frames"]["used"] == 1, rescued
        form = aiohttp.FormData()
        form.add_field("image", _png(scanned), filename="scan.png")
        for _ in range(5):
            form.add_field("frame", _png(smaller), filename="f.png")
        async with aiohttp.ClientSession() as s, s.post(url + "/scan", data=form, headers=AUTH) as r:
            assert r.status == 400  # at most four recent frames
    finally:
        await runner.cleanup()


async def test_fuzzed_uploads_never_crash_the_gate(gate: Gate) -> None:
    """Mutated real images (bit flips, cuts, splices, random bytes) at POST /scan: each gets a
    verdict or a JSON 4xx, the gate keeps serving, and only decided scans reach the journal."""
    import random

    rng = random.Random(99)
    frame = np.full((240, 320, 3), 255, np.uint8)
    seeds = [_png(frame), cv2.imencode(".jpg", frame)[1].tobytes(),
             shared("qr", "qrcode-1", "1.png").read_bytes()]
    decided = 0
    async with aiohttp.ClientSession() as s:
        for i in range(120):
            data = bytearray(rng.choice(seeds))
            op = i % 4
            if op == 0:
                for _ in range(rng.randrange(1, 20)):
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif op == 1:
                data = data[: rng.randrange(len(data))]
            elif op == 2:
                other = rng.choice(seeds)
                cut = rng.randrange(min(len(data), len(other)))
                data = data[:cut] + other[cut:]
            else:
                data = bytearray(rng.randbytes(rng.randrange(1, 5000)))
            async with s.post(gate.url + "/scan", data=bytes(data), headers=AUTH) as r:
                assert r.status in (200, 400), (i, r.status, await r.text())
                body = await r.json()
                assert "Traceback" not in json.dumps(body)
                decided += r.status == 200
    assert gate.service.journal.pending() == decided  # every decision journaled, nothing else


async def test_a_retry_that_arrives_while_the_journal_is_read_waits_for_the_first(tmp_path: Path) -> None:
    """The window between 'not decided yet' and 'being decided': the journal lookup is slowed
    down so the retry lands in it every time; it must get the first decision, not a second."""
    key = tickets.new_key()
    cfg = GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "journal.sqlite", face_required=False, workers=2)
    svc = GateService(cfg, GateCache(keys={1: key.public_key()}))
    read = svc.journal.get

    def slow_get(event_id: str) -> Any:
        time.sleep(0.2)
        return read(event_id)

    svc.journal.get = slow_get  # type: ignore[method-assign]
    frame = frames.compose(np.full((10, 10, 3), 150, np.uint8), frames.qr_image(_payload(key)))
    try:
        a, b = await asyncio.gather(svc.scan(frame, scan_id="lane0-0001"), svc.scan(frame, scan_id="lane0-0001"))
        assert sorted([a.replayed, b.replayed]) == [False, True]
        assert a.event.event_id == b.event.event_id and a.decision == b.decision
        assert svc.journal.event_ids() == ["N1:lane0-0001"]
    finally:
        await svc.stop()


async def test_a_retried_scan_id_returns_the_first_decision_and_records_nothing_new(gate: Gate) -> None:
    frame = frames.compose(np.full((10, 10, 3), 150, np.uint8), frames.qr_image(_payload(gate.key)))
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async def post(scan_id: str) -> tuple[int, dict[str, Any]]:
            async with s.post(f"{gate.url}/scan?lane=2&scan_id={scan_id}", data=_png(frame)) as r:
                return r.status, await r.json()

        first, retry = await asyncio.gather(post("lane2-0001"), post("lane2-0001"))  # concurrent retry
        again = await post("lane2-0001")  # a later retry, answered from the journal
        assert first[0] == retry[0] == again[0] == 200
        assert {first[1]["event_id"], retry[1]["event_id"], again[1]["event_id"]} == {"N1:lane2-0001"}
        assert first[1]["verdict"] == retry[1]["verdict"] == again[1]["verdict"] == "admit"
        assert sorted([first[1]["replayed"], retry[1]["replayed"]]) == [False, True] and again[1]["replayed"]
        other = await post("lane2-0002")  # a new scan of the same ticket is a new decision
        assert other[1]["verdict"] == "deny" and "already_inside" in other[1]["reasons"]
        assert other[1]["inside_since"]["gate_id"] == "N1"
        status, bad = await post("x%20y")
        assert status == 400 and "scan_id" in bad["message"]
    assert gate.service.journal.event_ids() == ["N1:lane2-0001", "N1:lane2-0002"]
async def test_scan_admission_answers_503_when_every_slot_is_taken(tmp_path: Path) -> None:
    """Twenty uploads at once at a gate with two scan slots: at most two are worked on, the
    others are told 503 + Retry-After at once (before, all queued: p95 7.7 s and +2.6 GB of
    decoded frames with 40 in flight); only decided scans reach the journal."""
    key = tickets.new_key()
    cfg = GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "journal.sqlite", face_required=False, workers=2)
    svc = GateService(cfg, GateCache(keys={1: key.public_key()}))
    runner = web.AppRunner(create_gate_app(svc, TerminalConfig(token=TOKEN, max_in_flight=2,
                                                               web_dir=tmp_path / "web")))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    frame = frames.compose(np.full((10, 10, 3), 150, np.uint8), frames.qr_image(_payload(key)))
    frame = cv2.resize(frame, (1920, 1440))  # enough work per scan for the slots to fill
    body = _png(frame)
    try:
        async with aiohttp.ClientSession() as s:
            async def post() -> tuple[int, str | None, str]:
                async with s.post(f"http://127.0.0.1:{port}/scan", data=body, headers=AUTH) as r:
                    return r.status, r.headers.get("Retry-After"), (await r.json()).get("error", "")

            results = await asyncio.gather(*(post() for _ in range(20)))
        busy = [r for r in results if r[0] == 503]
        assert busy and all(r[1:] == ("1", "busy") for r in busy), results
        assert {r[0] for r in results} <= {200, 503}
        assert svc.journal.pending() == sum(r[0] == 200 for r in results)
        assert runner.app is not None and runner.app[ADMISSION].in_flight == 0
    finally:
        await runner.cleanup()


async def test_gate_pages_carry_security_headers_and_refuse_other_origins(gate: Gate) -> None:
    """The terminal page had no security headers, and any page could post scans or open the
    terminal websocket with the cookie: now every response carries the headers, and POST /scan
    and /ws/terminal from another origin are refused."""
    async with aiohttp.ClientSession() as s:
        for path, headers in (("/", {}), ("/api/state", AUTH), ("/api/health", {}), ("/nope", AUTH)):
            async with s.get(gate.url + path, headers=headers) as r:
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
                assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
        async with s.post(gate.url + "/scan", data=b"x", headers={**AUTH, "Origin": "http://evil.example"}) as r:
            assert (r.status, (await r.json())["error"]) == (403, "bad_origin")
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(f"{gate.url.replace('http', 'ws')}/ws/terminal?token={TOKEN}",
                               origin="http://evil.example")
        assert err.value.status == 403
        async with s.ws_connect(f"{gate.url.replace('http', 'ws')}/ws/terminal?token={TOKEN}", origin=gate.url) as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "terminal_status"
    assert gate.service.journal.pending() == 0
