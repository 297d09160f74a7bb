"""Many live-map clients in one process, cheaply, for `bench command`.

Each client is a real websocket client (HTTP upgrade with the bearer token, RFC 6455 frames,
pings answered) on a bare asyncio Protocol: no task, reader or JSON decode per message, so
one process can follow thousands of live maps without needing the cores the server is being
measured on. Every client times every zones delta it receives that carries `last_scan_at`
(the gate's clock at send; same host, same clock).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass, field
from typing import cast

_LAST = b'"last_scan_at":'


@dataclass
class LoadStats:
    """What the clients of one process saw."""

    connected: int = 0
    failed: int = 0
    closed: int = 0
    snapshots: int = 0
    messages: int = 0
    latencies_ms: list[float] = field(default_factory=list)


class LiveClient(asyncio.Protocol):
    """One live-map websocket client."""

    def __init__(self, request: bytes, stats: LoadStats) -> None:
        self.request = request
        self.stats = stats
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()  # the first snapshot arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before its snapshot"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(bytes(buf[:end]).decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[:end + 4]
            self.upgraded = True
        start = 0
        while len(buf) - start >= 2:
            b0, n = buf[start], buf[start + 1] & 0x7F
            off = start + 2
            if n == 126:
                if len(buf) - start < 4:
                    break
                n, off = int.from_bytes(buf[start + 2:start + 4], "big"), start + 4
            elif n == 127:
                if len(buf) - start < 10:
                    break
                n, off = int.from_bytes(buf[start + 2:start + 10], "big"), start + 10
            if len(buf) < off + n:
                break
            op = b0 & 0x0F
            if op == 1:
                self._text(buf, off, off + n)
            elif op == 9 and self.transport is not None:  # ping: a pong with its payload (zero mask)
                self.transport.write(bytes((0x8A, 0x80 | n)) + b"\0\0\0\0" + bytes(buf[off:off + n]))
            start = off + n
        if start:
            del buf[:start]

    def _text(self, buf: bytearray, a: int, b: int) -> None:
        st = self.stats
        st.messages += 1
        if not self.ready.done():
            st.snapshots += 1
            self.ready.set_result(None)
            return
        if buf.startswith(b'{"type":"snapshot"', a):
            st.snapshots += 1
        elif buf.startswith(b'{"type":"zones"', a):
            i = buf.rfind(_LAST, a, b)
            if i > 0:
                raw = bytes(buf[i + len(_LAST):b]).rstrip(b"}").strip()
                if raw and raw != b"null":
                    st.latencies_ms.append((time.time() - float(raw)) * 1000)


def upgrade_request(host: str, port: int, path: str, token: str) -> bytes:
    """The HTTP upgrade request of a live-map client."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()


async def connect_many(host: str, port: int, path: str, token: str, n: int, stats: LoadStats,
                       *, batch: int = 100) -> list[LiveClient]:
    """Open n clients (batch at a time), each until its snapshot arrived."""
    loop = asyncio.get_running_loop()
    clients: list[LiveClient] = []
    for i in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - i)):
            c = LiveClient(upgrade_request(host, port, path, token), stats)
            try:
                await loop.create_connection(lambda c=c: c, host, port)  # type: ignore[misc]
            except OSError:
                stats.failed += 1
                continue
            group.append(c)
        for c in group:
            try:
                await asyncio.wait_for(c.ready, 60)
                stats.connected += 1
                clients.append(c)
            except (ConnectionError, TimeoutError):
                stats.failed += 1
    return clients
