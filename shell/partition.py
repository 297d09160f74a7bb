"""A loopback TCP proxy that can cut a client off from its server, as a network partition does.

Put one between a gate and the command server (the gate dials the proxy's port). While the
link is up, bytes flow both ways untouched and an end closing is passed on. `cut()` partitions:

- BLACKHOLE (default): bytes on open connections are dropped both ways and new connections
  are accepted but never reach the server, so each end finds out only through its own
  timeouts and keepalives, as with a pulled cable or a dead switch;
- RESET: open connections are closed at once and new ones are closed as soon as accepted.

`restore()` heals the link: connections that lived through a blackhole are reset (bytes were
lost, their streams cannot continue; a real partition this long outlives TCP's retransmission
too) and new connections go through again.
"""

from __future__ import annotations

import asyncio
import enum
import logging

log = logging.getLogger(__name__)

CHUNK = 1 << 16


class CutMode(enum.StrEnum):
    """How a cut link behaves."""

    BLACKHOLE = "blackhole"  # bytes dropped, connects hang; ends notice by their own timeouts
    RESET = "reset"  # connections closed, new ones closed on accept


class _Conn:
    """One proxied connection: the client's side, and the server's once dialled."""

    def __init__(self, client: asyncio.StreamWriter, severed: bool) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.severed = severed  # lived through a blackhole: forwards nothing any more

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                w.transport.abort()

    def close(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                w.close()


class PartitionProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` until cut."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port  # the listening port once started (0: any free port)
        self.mode: CutMode | None = None  # None while the link is up
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()

    @property
    def is_cut(self) -> bool:
        """Whether the link is partitioned."""
        return self.mode is not None

    async def start(self) -> None:
        """Listen (on a free port unless one was given)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self, mode: CutMode = CutMode.BLACKHOLE) -> None:
        """Partition the link until `restore()`."""
        self.mode = mode
        for conn in list(self._conns):
            if mode is CutMode.RESET:
                conn.abort()
            else:
                conn.severed = True
        log.info("link to %s:%d cut (%s, %d connections)", *self.target, mode.value, len(self._conns))

    def restore(self) -> None:
        """Heal the link: reset what lived through a blackhole, let new connections through."""
        self.mode = None
        for conn in list(self._conns):
            if conn.severed:
                conn.abort()
        log.info("link to %s:%d restored", *self.target)

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conn in list(self._conns):
            conn.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is CutMode.RESET:
            writer.transport.abort()
            return
        conn = _Conn(writer, severed=self.mode is CutMode.BLACKHOLE)
        self._conns.add(conn)
        try:
            if conn.severed:  # accepted, but the server never hears of it
                await self._pump(reader, None, conn)
                return
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                conn.abort()  # the server is down: the client sees its connection dropped
                return
            await asyncio.gather(self._pump(reader, conn.upstream, conn),
                                 self._pump(up_reader, writer, conn))
        finally:
            self._conns.discard(conn)
            conn.close()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter | None, conn: _Conn) -> None:
        """Copy src to dst until src ends, dropping bytes while the connection is severed."""
        try:
            while data := await src.read(CHUNK):
                if dst is not None and not conn.severed:
                    dst.write(data)
                    await dst.drain()
            if dst is not None and not conn.severed and dst.can_write_eof():
                dst.write_eof()  # a half-close is passed on; the other direction may go on
        except (ConnectionError, OSError):
            if not conn.severed:
                conn.abort()  # a reset on one side resets the other
        except asyncio.CancelledError:
            conn.abort()
            raise
