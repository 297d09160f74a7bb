"""Helpers shared by the tests (import as `support`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eventguard.config import Venue
from eventguard.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"
ARTIFACTS = REPO_ROOT / "test-artifacts"


async def insert_registration(conn: Any, event_id: str, *, encoding: Any = None,
                              entrances: tuple[str, ...] = (), registration_id: str | None = None,
                              model_id: str | None = None, sealed_with: bytes | None = None) -> str:
    """A registration row (holder) straight into PostgreSQL; its id. Encoding: 128 floats made
    by `model_id` (default: the default engine's model), in clear as rows before sql/0023 were,
    or sealed as the import writes them when `sealed_with` names the photo key."""
    import uuid

    import numpy as np

    from command import face_seal, photo_seal
    from vision.engine import DEFAULT_ENGINE, spec

    rid = registration_id or uuid.uuid4().hex
    model = model_id or spec(DEFAULT_ENGINE).model_id
    enc = [float(x) for x in (np.zeros(128) if encoding is None else np.asarray(encoding, dtype=float))]
    sealed = (face_seal.seal(sealed_with, enc, photo_seal.registration_owner(rid), model)
              if sealed_with is not None else None)
    await conn.execute(
        "INSERT INTO registrations (registration_id, event_id, id_hmac, id_last4, name, ticket_type,"
        " entrances, photo, encoding, encoding_sealed, model_id) VALUES ($1, $2, $3, '1234', 'N', 'standard', $4,"
        " 'p.jpg', $5, $6, $7)", rid, event_id, uuid.uuid4().bytes * 2, list(entrances),
        None if sealed is not None else enc, sealed, model)
    return rid


def face_key(tmp_path: Path) -> bytes:
    """The photo key of a test server (`server` fixture: tmp_path/keys); it seals embeddings too."""
    from command import photo_seal

    return photo_seal.load_key(photo_seal.key_path(tmp_path / "keys"))


def read_bgr(path: Path) -> Any:
    """A photo from ../shared/data as a BGR uint8 array, as a camera frame is (skips the test when
    the file is missing)."""
    import cv2
    import numpy as np

    if not path.exists():
        pytest.skip(f"shared test data missing: {path} (see ../shared/README.md)")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return np.asarray(img, dtype=np.uint8)


def shared(*parts: str) -> Path:
    """A path inside ../shared/data, skipping the test when the folder is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data missing: {p} (see ../shared/README.md)")
    return p


def demo_venue_as(path: Path, event_id: str, extra: str = "") -> Path:
    """The demo venue file written to `path` under another event id (with `extra` TOML after it),
    its plan picture copied beside it: [plan] finds the picture relative to the venue file."""
    import shutil

    from eventguard.settings import DEFAULT_VENUE

    text = DEFAULT_VENUE.read_text(encoding="utf-8").replace('id = "demo-2026"', f'id = "{event_id}"')
    path.write_text(text + extra, encoding="utf-8")
    shutil.copy(DEFAULT_VENUE.parent / "demo-plan.svg", path.parent / "demo-plan.svg")
    return path


@dataclass
class Server:
    """A command server running on loopback for one test."""

    url: str  # http://127.0.0.1:port
    ws_url: str  # ws://127.0.0.1:port
    db_url: str
    venue: Venue
    gate_tokens: dict[str, str]
    passwords: dict[str, str]  # username -> password (commander, operator, viewer)
    app: Any = None  # the aiohttp Application (tests may reach the service through it)
    camera_tokens: dict[str, str] = field(default_factory=dict)  # crowd sensing: camera id -> token

    async def login(self, username: str) -> str:
        """Session token of a demo operator."""
        import aiohttp

        async with aiohttp.ClientSession() as s, s.post(
            f"{self.url}/api/login", json={"username": username, "password": self.passwords[username]}
        ) as r:
            assert r.status == 200, await r.text()
            token: str = (await r.json())["token"]
            return token


async def wait_for(predicate: object, within: float = 10.0, interval: float = 0.05) -> None:
    """Poll an (async or sync) predicate until true, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = predicate() if callable(predicate) else predicate  # type: ignore[operator]
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def start_gate(server: Server, gate_id: str, tmp_path: Path, *, url: str | None = None,
                     start: bool = True) -> Any:
    """A real GateService (tickets only) with the event's public keys, journaling under tmp_path."""
    import asyncpg

    from command import issuing
    from gate.service import GateCache, GateConfig, GateService

    conn = await asyncpg.connect(server.db_url)
    try:
        keys = await issuing.public_keys(conn, server.venue.event.id)
    finally:
        await conn.close()
    cfg = GateConfig(gate_id=gate_id, event_id=server.venue.event.id,
                     server_url=url or f"{server.ws_url}/ws/gate", token=server.gate_tokens[gate_id],
                     journal_path=tmp_path / f"{gate_id}.sqlite", face_required=False, workers=2)
    svc = GateService(cfg, GateCache(keys=keys))
    if start:
        await svc.start()
    return svc


async def ticket_png(server: Server, tmp_path: Path, gate_id: str | None) -> tuple[str, Path]:
    """Issue a valid ticket for gate_id (None: every entrance) and render its QR PNG."""
    import time

    import asyncpg

    from command import issuing

    conn = await asyncpg.connect(server.db_url)
    try:
        key_id, key = await issuing.latest_key(conn, server.venue.event.id, tmp_path / "keys")
        now = int(time.time())
        t, payload = await issuing.issue(conn, event_id=server.venue.event.id, key_id=key_id, key=key,
                                           valid_from=now - 60, valid_until=now + 3600, now=now,
                                           entrances=(gate_id,) if gate_id else ())
    finally:
        await conn.close()
    return t.ticket_id, issuing.render_png(payload, tmp_path / f"{t.ticket_id}.png", scale=4)


async def send_entries(server: Server, gate_id: str, n: int) -> None:
    """n entry events through the gate websocket, as a gate's uplink sends them."""
    import time
    import uuid

    import websockets

    from eventguard.wire import (
        BatchAck,
        EventBatch,
        EventKind,
        GateEvent,
        decode_server_message,
        encode,
    )

    now = time.time()
    events = tuple(GateEvent(event_id=f"{gate_id}-{uuid.uuid4().hex}", gate_id=gate_id, kind=EventKind.ENTRY,
                             at=now, verdict="admit") for _ in range(n))
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens[gate_id]}"}) as ws:
        await ws.recv()  # welcome
        await ws.send(encode(EventBatch(batch_id=uuid.uuid4().hex, events=events)).decode())
        while True:
            msg = decode_server_message(await ws.recv())
            if isinstance(msg, BatchAck):
                assert msg.stored == n
                return


@contextlib.asynccontextmanager
async def running(uplink: Any) -> AsyncIterator[asyncio.Task[None]]:
    """The uplink's run() as a task for the block, cancelled (and awaited) when it ends."""
    task = asyncio.create_task(uplink.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class AckingServer:
    """A stand-in for the command server's /ws/gate or /ws/camera on loopback, for uplink tests:
    welcomes `subject`, keeps every batch it reads (`decode` turns a frame into a message) and
    acknowledges it, except the first `lose` acks, which are lost on the way back."""

    def __init__(self, subject: str, decode: Any, *, lose: int = 0, max_size: int | None = None) -> None:
        from eventguard.wire import MAX_MESSAGE_BYTES

        self.subject, self.decode, self.lose = subject, decode, lose
        self.max_size = MAX_MESSAGE_BYTES if max_size is None else max_size  # the real server's limit
        self.batches: list[Any] = []
        self.url = ""
        self._server: Any = None

    async def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        from eventguard.wire import BatchAck, Welcome, encode

        with contextlib.suppress(ConnectionClosed):  # the client went away (a test cancels it)
            await ws.send(encode(Welcome(subject=self.subject, role="gate", server_time=0.0)).decode())
            async for raw in ws:
                m = self.decode(raw)
                if not hasattr(m, "batch_id"):
                    continue
                self.batches.append(m)
                if len(self.batches) > self.lose:
                    stored = len(getattr(m, "events", ()) or getattr(m, "reports", ()))
                    await ws.send(encode(BatchAck(batch_id=m.batch_id, stored=stored, duplicates=0)).decode())

    async def __aenter__(self) -> AckingServer:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=self.max_size).__aenter__()
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(*exc)


# ---- digital twin (issue 19) -----------------------------------------------------------------


async def admit(server: Server, gate: str, n: int, moved_to: str | None = None, moved: int = 0) -> None:
    """n entries at `gate`, then `moved` of them on from its zone to `moved_to` (transfers the
    gate counts), sent as a gate does and acknowledged once stored."""
    import time

    import websockets

    from eventguard.wire import (
        BatchAck,
        EventBatch,
        EventKind,
        GateEvent,
        Welcome,
        decode_server_message,
        encode,
    )

    ws = await websockets.connect(f"{server.ws_url}/ws/gate",
                                  additional_headers={"Authorization": f"Bearer {server.gate_tokens[gate]}"})
    zone = server.venue.gate(gate).zone
    now = time.time()
    events = [GateEvent(event_id=f"{gate}:tw-{i}", gate_id=gate, kind=EventKind.ENTRY, at=now,
                        ticket_id=f"tw-{gate}-{i}", verdict="admit", queue=40) for i in range(n)]
    transfers = [GateEvent(event_id=f"{gate}:tx-{i}", gate_id=gate, kind=EventKind.TRANSFER, at=now,
                           zone_from=zone, zone_to=moved_to) for i in range(moved)]
    try:
        assert isinstance(decode_server_message(await ws.recv()), Welcome)
        for k, batch in enumerate((events, transfers)):
            if not batch:
                continue
            await ws.send(encode(EventBatch(batch_id=f"tw-{gate}-{k}", events=tuple(batch))).decode())
            while not isinstance(ack := decode_server_message(await asyncio.wait_for(ws.recv(), 20)), BatchAck):
                pass
            assert ack.stored == len(batch)
    finally:
        await ws.close()


async def fill_bowl(server: Server) -> None:
    """1,700 admitted in the last minute at N1 and S1, 1,600 of them gone on into the bowl
    (900 m², warning 2 P/m² = 1,800 people): the gates keep admitting, the bowl crosses its line."""
    await admit(server, "N1", 1000, "bowl", 950)
    await admit(server, "S1", 700, "bowl", 650)


async def watched_gate(server: Server, tmp_path: Path, *, label: str = "Watched") -> tuple[Any, dict[str, Any]]:
    """A deny list holding one photo of Obama (posted as an operator would) and gate N1 with it
    loaded (not started); the entry as the server answered, with its list's name."""
    import aiohttp
    import asyncpg

    from command import issuing, watchlist_store
    from gate.service import GateCache, GateConfig, GateService
    from vision.engine import DEFAULT_ENGINE, spec

    async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> tuple[int, Any]:
        async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
            return r.status, await r.json()

    faces_dir = shared("faces", "images")
    op = await server.login("operator")
    async with aiohttp.ClientSession() as s:
        _, wl = await _call(s, "POST", f"{server.url}/api/watchlists", op, json={"name": "wanted", "severity": "deny"})
        form = aiohttp.FormData()
        form.add_field("photo", (faces_dir / "examples__obama2.jpg").read_bytes(), filename="p.jpg",
                       content_type="image/jpeg")
        form.add_field("label", label)
        form.add_field("legal_basis", "court order 2026/117 (test)")
        form.add_field("expires_at", "2099-01-01T00:00:00+00:00")
        st, entry = await _call(s, "POST", f"{server.url}/api/watchlists/{wl['id']}/entries", op, data=form)
        assert st == 201, entry
    conn = await asyncpg.connect(server.db_url)
    try:
        index = await watchlist_store.load_index(conn, spec(DEFAULT_ENGINE), face_key(tmp_path))
        keys = await issuing.public_keys(conn, server.venue.event.id)
    finally:
        await conn.close()
    cfg = GateConfig(gate_id="N1", event_id=server.venue.event.id, server_url=f"{server.ws_url}/ws/gate",
                     token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite", workers=2)
    return GateService(cfg, GateCache(keys=keys, watchlist=index)), {**entry, "list_name": wl["name"]}
