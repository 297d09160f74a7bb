"""A fan-out replica: its own process serving /ws/live from the command server's feed.

`python -m command.live_replica --fd N` (started by command/replicas.py; its settings as one
JSON object on stdin, the listening socket inherited as descriptor N, shared by every replica —
the kernel spreads the connections), or `eventguard live-replica` on another machine (its own
socket, a fixed feed secret, the pages' origin given; it stops only when told, and at once,
in one line, when the server refuses its secret). Each replica authenticates live-map clients against
PostgreSQL exactly as the command server does (bearer or session cookie, staff roles, the
Origin of the server's pages), re-checks open sessions (once per session, not per socket),
sends a snapshot on connect and then every message of the feed, the viewer's version to
viewers.

Fan-out is one websocket frame built per message and written to each client's transport: no
task, queue or encoding per client. A client whose unsent bytes pass `buffer_bytes` is slow: it
gets nothing more until its buffer has drained, then a fresh snapshot (resync), so it never
holds up the others.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiohttp import WSMsgType, web

from command.appkeys import POOL, SETTINGS
from command.auth import STAFF, Principal, Role
from command.errors import CommandError, FeedRefused
from command.feed import SNAPSHOT_REQUEST, FeedFrame, decode_frame
from command.page_socket import answer_pings
from command.security import bearer, principal, recheck
from eventguard import aio
from eventguard.browser import SECURITY_HEADERS, same_origin
from eventguard.logs import EscapingFormatter
from eventguard.settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    """What a replica needs from the command server that starts it."""

    feed_url: str  # ws(s)://host:port/ws/feed
    feed_token: str
    database_url: str
    page_port: int  # pages come from the command server's port: their Origin names it
    page_scheme: str = "http"
    allowed_origins: tuple[str, ...] = ()
    session_recheck_s: float = 5.0
    buffer_bytes: int = 1 << 20  # unsent bytes per client before it counts as slow
    tls_cert: str | None = None
    tls_key: str | None = None
    index: int = 0
    page_origin: str = ""  # scheme://host:port of the pages (another machine's); empty: this host, page_port
    feed_ca: str | None = None  # certificate(s) the feed's TLS certificate is checked against (None: the system's)
    feed_check_hostname: bool = True  # False for local replicas: the server's own certificate, on loopback


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented websocket text frame (server to client, RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


@dataclass(eq=False)
class Client:
    """One live-map connection."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport
    viewer: bool
    resyncs: int = 0


@dataclass
class Fanout:
    """The replica's clients: live ones get every message; joining and lagging ones wait for a
    snapshot at a point of the stream (pure bookkeeping over transports; no awaits)."""

    buffer_bytes: int
    request: Callable[[], None] = lambda: None  # ask the feed for a snapshot
    live: set[Client] = field(default_factory=set)
    joining: list[Client] = field(default_factory=list)
    lagging: set[Client] = field(default_factory=set)
    snapshot: tuple[bytes, bytes] | None = None  # prepared frames (staff, viewer) of the latest
    fresh: bool = False  # no message since the latest snapshot: a joiner may take it as it is
    requested: bool = False
    messages: int = 0
    # messages wait for the end of the feed read they came in: call_soon in the replica
    schedule: Callable[[Callable[[], None]], object] = lambda cb: cb()
    _out: list[tuple[bytes, bytes]] = field(default_factory=list)
    _flush_due: bool = False

    def join(self, c: Client) -> None:
        """A new (or resyncing) client: a snapshot, then the messages after it."""
        if self.fresh and self.snapshot is not None:
            self._send_snapshot(c, self.snapshot)
            self.live.add(c)
            return
        self.joining.append(c)
        self._ask()

    def leave(self, c: Client) -> None:
        """Forget a client."""
        self.live.discard(c)
        self.lagging.discard(c)
        with contextlib.suppress(ValueError):
            self.joining.remove(c)

    def feed_lost(self) -> None:
        """The feed is gone: every client waits for the snapshot after it is back."""
        self.flush()
        self.joining.extend(self.live)
        self.live.clear()
        self.fresh = self.requested = False

    def on_frame(self, f: FeedFrame) -> None:
        """One frame of the feed, in order."""
        if f.snapshot:
            self.flush()  # the messages before it go to the clients that were live before it
            snap = (ws_text_frame(f.staff), ws_text_frame(f.viewer))
            self.snapshot, self.fresh, self.requested = snap, True, False
            takers = [*self.joining, *(self.live if f.resync else ())]
            self.joining.clear()
            for c in takers:
                self._send_snapshot(c, snap)
                self.live.add(c)
            return
        self.fresh = False
        self.messages += 1
        staff = ws_text_frame(f.staff)
        self._out.append((staff, staff if f.viewer is f.staff else ws_text_frame(f.viewer)))
        if not self._flush_due:
            self._flush_due = True
            self.schedule(self.flush)

    def flush(self) -> None:
        """Write the messages of this round to every live client, one write each (the frames
        that came in one read of the feed — zones, gates, grid — go out together)."""
        self._flush_due = False
        if not self._out:
            return
        staff = b"".join(m[0] for m in self._out)
        viewer = staff if all(m[0] is m[1] for m in self._out) else b"".join(m[1] for m in self._out)
        self._out.clear()
        limit = self.buffer_bytes
        slow: list[Client] = []
        for c in self.live:
            t = c.transport
            if t.is_closing():
                slow.append(c)
            elif t.get_write_buffer_size() > limit:
                slow.append(c)
                c.resyncs += 1
                self.lagging.add(c)
            else:
                t.write(viewer if c.viewer else staff)
        for c in slow:
            self.live.discard(c)
        if self.lagging:
            self.check_lagging()

    def check_lagging(self) -> None:
        """Lagging clients whose buffer has drained rejoin (a snapshot); also on a timer."""
        for c in [c for c in self.lagging if c.transport.is_closing() or not c.transport.get_write_buffer_size()]:
            self.lagging.discard(c)
            if not c.transport.is_closing():
                self.join(c)

    def _send_snapshot(self, c: Client, snap: tuple[bytes, bytes]) -> None:
        if not c.transport.is_closing():
            c.transport.write(snap[1] if c.viewer else snap[0])

    def _ask(self) -> None:
        if not self.requested:
            self.requested = True
            self.request()


class Sessions:
    """Open sockets by session: each session is resolved again every interval, once however many
    sockets share it; a changed or ended one closes its sockets with the code saying why."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, Principal], set[web.WebSocketResponse]] = {}

    def add(self, token: str, who: Principal, ws: web.WebSocketResponse) -> None:
        self.open.setdefault((token, who), set()).add(ws)

    def remove(self, token: str, who: Principal, ws: web.WebSocketResponse) -> None:
        socks = self.open.get((token, who))
        if socks is not None:
            socks.discard(ws)
            if not socks:
                del self.open[(token, who)]

    async def run(self, pool: asyncpg.Pool, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            for (token, who), socks in list(self.open.items()):
                ended = await recheck(pool, token, who)
                if ended is None:
                    continue
                code, why = ended
                for ws in list(socks):
                    await ws.close(code=code, message=why.encode())


FANOUT = web.AppKey("fanout", Fanout)
SESSIONS = web.AppKey("sessions", Sessions)
CONFIG = web.AppKey("replica_config", ReplicaConfig)


def _page_host(request: web.Request, port: int) -> str:
    """The host:port the command server's pages were loaded from (this host, the page port)."""
    h = request.host
    name = h[:h.index("]") + 1] if h.startswith("[") else h.split(":")[0]
    return f"{name}:{port}"


async def live_ws(request: web.Request) -> web.StreamResponse:
    """/ws/live served by the replica (same authentication and roles as the command server's)."""
    cfg = request.app[CONFIG]
    if cfg.page_origin:  # the pages come from another machine: their origin is given
        page = urlsplit(cfg.page_origin)
        scheme, host = page.scheme, page.netloc
    else:
        scheme, host = cfg.page_scheme, _page_host(request, cfg.page_port)
    if not same_origin(request.headers.get("Origin"), scheme=scheme, host=host, allowed=cfg.allowed_origins):
        return web.json_response({"error": "bad_origin", "message": "request from another origin refused"},
                                 status=403)
    who = await principal(request, *STAFF)
    token = bearer(request)
    assert token is not None
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    fanout, sessions = request.app[FANOUT], request.app[SESSIONS]
    client = Client(ws, transport, viewer=who.role is Role.VIEWER)
    fanout.join(client)
    sessions.add(token, who, ws)
    try:
        await answer_pings(ws)
    finally:
        fanout.leave(client)
        sessions.remove(token, who, ws)
    return ws


def _requester(ws: aiohttp.ClientWebSocketResponse) -> Callable[[], None]:
    """Ask the feed for a snapshot without waiting (the answer comes in the stream)."""
    loop = asyncio.get_running_loop()

    sending: set[asyncio.Task[None]] = set()

    def request() -> None:
        task = loop.create_task(ws.send_str(SNAPSHOT_REQUEST))
        sending.add(task)
        task.add_done_callback(sending.discard)
    return request


async def feed_client(cfg: ReplicaConfig, fanout: Fanout) -> None:
    """Follow the command server's feed; reconnect (every client resynced) when it drops."""
    ctx: ssl.SSLContext | bool = True
    if cfg.feed_url.startswith("wss:") and cfg.feed_ca:
        ctx = ssl.create_default_context(cafile=cfg.feed_ca)
        ctx.check_hostname = cfg.feed_check_hostname
    delay = 0.2
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.ws_connect(cfg.feed_url, headers={"Authorization": f"Bearer {cfg.feed_token}"},
                                              max_msg_size=0, heartbeat=20, ssl=ctx) as ws:
                    delay = 0.2
                    fanout.request = _requester(ws)
                    fanout.requested = False
                    if fanout.joining or not fanout.live:
                        fanout._ask()
                    async for msg in ws:
                        if msg.type == WSMsgType.BINARY:
                            fanout.on_frame(decode_frame(msg.data))
                        elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                            break
            except aiohttp.WSServerHandshakeError as err:
                if err.status in (401, 403):
                    raise FeedRefused(f"the command server at {cfg.feed_url} refused the feed secret "
                                      f"(HTTP {err.status}): use the file its live_feed_secret_file names") from err
                log.debug("replica %d: feed unreachable: %s", cfg.index, err)
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                log.debug("replica %d: feed unreachable: %s", cfg.index, err)
            fanout.feed_lost()
            fanout.request = lambda: None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except CommandError as err:
        return web.json_response({"error": err.code, "message": str(err)}, status=err.status)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def create_replica_app(cfg: ReplicaConfig, pool: asyncpg.Pool) -> web.Application:
    """The replica's application: /ws/live only (and /health)."""
    app = web.Application(middlewares=[_errors])
    app.on_response_prepare.append(_headers)
    app[CONFIG] = cfg
    app[POOL] = pool
    app[SETTINGS] = ServerSettings(database_url=cfg.database_url, session_recheck_s=cfg.session_recheck_s,
                                   allowed_origins=cfg.allowed_origins)
    app[FANOUT] = Fanout(cfg.buffer_bytes, schedule=asyncio.get_running_loop().call_soon)
    app[SESSIONS] = Sessions()

    async def health(request: web.Request) -> web.Response:
        f = request.app[FANOUT]
        return web.json_response({"status": "ok", "replica": cfg.index, "clients": len(f.live),
                                  "messages": f.messages})

    app.router.add_get("/ws/live", live_ws)
    app.router.add_get("/health", health)
    return app


async def serve(cfg: ReplicaConfig, sock: socket.socket, *, parent: int | None = None) -> None:
    """Serve the socket until cancelled (or, with `parent`, until that process is gone); raises
    FeedRefused when the command server refuses the secret."""
    pool = await asyncpg.create_pool(cfg.database_url, min_size=1, max_size=4, command_timeout=30)
    assert pool is not None
    app = create_replica_app(cfg, pool)
    tls = None
    if cfg.tls_cert and cfg.tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1, keepalive_timeout=10)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=tls).start()

    async def lagging() -> None:  # a slow client rejoins once drained, even when no message comes
        while parent is None or os.getppid() == parent:  # the server that started it is gone (even by kill -9)
            await asyncio.sleep(0.1)
            app[FANOUT].check_lagging()
        log.warning("replica %d: the command server is gone; stopping", cfg.index)

    tasks = [asyncio.create_task(feed_client(cfg, app[FANOUT])), asyncio.create_task(lagging()),
             asyncio.create_task(app[SESSIONS].run(pool, cfg.session_recheck_s))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()  # FeedRefused (or a bug) ends the replica with its error
    finally:
        for t in tasks:
            t.cancel()
        await runner.cleanup()
        await pool.close()


def main() -> None:
    """Entry point: settings on stdin, the listening socket as --fd."""
    parser = argparse.ArgumentParser(prog="python -m command.live_replica")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    raw = json.loads(sys.stdin.readline())
    raw["allowed_origins"] = tuple(raw.get("allowed_origins", ()))
    cfg = ReplicaConfig(**raw)
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter(f"%(asctime)s live-replica-{cfg.index} %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    sock = socket.socket(fileno=args.fd)
    with contextlib.suppress(KeyboardInterrupt):
        aio.run(serve(cfg, sock, parent=os.getppid()))


if __name__ == "__main__":
    main()

