"""A process's link to the command server: replays its journal in order, batch by batch.

Gates (gate/uplink.py) and cameras (camera/uplink.py) journal what they produce in SQLite and
stream it to their endpoint (/ws/gate, /ws/camera) through a JournalUplink. One batch is in
flight at a time; its rows are marked acknowledged in the journal only after the server's
BatchAck says they are stored. Lost connections, refused batches (database down) and timeouts
all lead to the same thing: wait, reconnect, resend. The server de-duplicates by id, so a resend
after a lost ack never counts twice. While the server is unreachable the link waits twice as
long each time (up to RETRY_MAX_S) and logs one warning per outage; a refusal retrying cannot
fix (token, endpoint, who the token belongs to, another event) stops it with UplinkRefused.

A subclass says only what differs: its endpoint and log lines (class attributes), what a
welcome must carry, how a batch is encoded, the first message on a link, what goes out before
each round and what to do with server messages other than acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import ClassVar, Protocol, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from eventguard.errors import UplinkRefused, WireError
from eventguard.wire import (
    MAX_MESSAGE_BYTES,
    BatchAck,
    ErrorMsg,
    Msg,
    ServerMessage,
    Welcome,
    decode_server_message,
    encode,
)

T = TypeVar("T")
BATCH_BYTES = MAX_MESSAGE_BYTES // 2  # a batch stays well under the server's message limit
RETRY_MAX_S = 10.0  # the longest wait between two attempts to reach the server


def fit(rows: list[tuple[str, bytes]], budget: int) -> list[tuple[str, bytes]]:
    """The oldest rows whose JSON fits in budget bytes (at least one: a single event or report
    is far smaller than the limit, the gate or camera builds it)."""
    total = 0
    for n, (_, body) in enumerate(rows):
        total += len(body) + 1
        if total > budget and n:
            return rows[:n]
    return rows


def backoff(delay: float) -> float:
    """The wait after another failed attempt, given the last one: twice as long, RETRY_MAX_S at most."""
    return min(delay * 2, RETRY_MAX_S)


def status_refusal(kind: str, url: str, status: int) -> str | None:
    """Why a `kind` ("gate", "camera") must stop when its endpoint at url answers the websocket
    upgrade with this HTTP status; None when retrying may help."""
    if status in (401, 403):
        return (f"the command server at {url} refused this {kind}'s token (HTTP {status}): "
                f"check --token-file (eventguard {kind}s token {kind.upper()})")
    if status == 404:
        return f"no {kind} endpoint at {url} (HTTP 404): the path is /ws/{kind}"
    return None


class Outbox(Protocol):
    """The journal as an uplink sees it (blocking: called through the executor)."""

    def unacked_raw(self, limit: int, /) -> list[tuple[str, bytes]]:
        """(id, JSON) of the oldest rows not acknowledged yet."""

    def mark_acked(self, ids: Iterable[str], /) -> None:
        """The server stored (or set aside) these rows."""

    def pending(self) -> int:
        """Rows not acknowledged yet."""


class JournalUplink:
    """Keeps a journal flowing to the server whenever it is reachable."""

    kind: ClassVar[str]  # "gate", "camera": the endpoint /ws/<kind>, the command `eventguard <kind>s token`
    label: ClassVar[str]  # how the log lines name the link
    outage_log: ClassVar[str]  # the one warning of an outage: takes url, error name, rows pending
    set_aside_log: ClassVar[str]  # the warning for rows the server set aside: takes their number, batch id
    refusal: ClassVar[type[UplinkRefused]]  # what run() raises when retrying cannot help
    logger: ClassVar[logging.Logger]  # the logger of the subclass's module (its name is in every line)
    max_size: ClassVar[int] = 1 << 20  # the largest server message read

    def __init__(self, url: str, token: str, journal: Outbox, executor: Executor, *, batch_size: int,
                 ack_timeout_s: float, retry_s: float) -> None:
        self.url, self.token, self.journal, self.executor = url, token, journal, executor
        self.batch_size, self.ack_timeout_s, self.retry_s = batch_size, ack_timeout_s, retry_s
        self.connected = asyncio.Event()
        self.idle = asyncio.Event()  # connected and nothing left to send
        self.refused: UplinkRefused | None = None  # set when retrying cannot help
        self.sent_batches = 0
        self._wake = asyncio.Event()
        self._acks: asyncio.Queue[BatchAck | ErrorMsg] = asyncio.Queue()
        self._ws: ClientConnection | None = None

    # ---- what differs from one kind to another -----------------------------------------------

    def welcome_refusal(self, welcome: Welcome) -> str | None:
        """Why this link must stop when the server welcomes it so; None to go on."""
        return None

    def greeting(self) -> Msg | None:
        """The first message after Welcome on every connection, if any."""
        return None

    def encode_batch(self, batch_id: str, bodies: list[bytes]) -> bytes:
        """The batch message of these journaled rows."""
        raise NotImplementedError

    async def before_round(self, ws: ClientConnection) -> None:
        """Send what is not journaled, before each look into the journal."""

    async def received(self, msg: ServerMessage) -> None:
        """A server message other than an ack or an error arrived."""

    # ---- shared ------------------------------------------------------------------------------

    def notify(self) -> None:
        """New rows are in the journal (call on the loop)."""
        self.idle.clear()
        self._wake.set()

    async def send(self, msg: Msg) -> bool:
        """Send a message now if connected; False if offline."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(encode(msg).decode())
            return True
        except websockets.ConnectionClosed:
            return False

    async def _io(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _refuse(self, message: str) -> UplinkRefused:
        self.refused = self.refusal(message)
        return self.refused

    async def run(self) -> None:
        """Connect, replay, stream; until cancelled, or until the server refuses this link for good
        (raises UplinkRefused, also kept in `refused`)."""
        delay = self.retry_s
        down_logged = False
        while True:
            try:
                async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                   open_timeout=5, ping_interval=10, ping_timeout=10,
                                   max_size=self.max_size) as ws:
                    first = decode_server_message(await asyncio.wait_for(ws.recv(), 5))
                    if not isinstance(first, Welcome):
                        raise WireError(f"expected welcome, got {type(first).__name__}")
                    refusal = self.welcome_refusal(first)
                    if refusal is not None:
                        raise self._refuse(refusal)
                    down_logged = False
                    greeting = self.greeting()
                    if greeting is not None:
                        await ws.send(encode(greeting).decode())
                    self._acks = asyncio.Queue()  # replies meant for an earlier connection are void
                    self._ws = ws
                    self.connected.set()
                    delay = self.retry_s
                    self.logger.info("%s connected to %s as %s", self.label, self.url, first.subject)
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self._stream(ws, reader)
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await reader
            except (asyncio.CancelledError, UplinkRefused):
                raise
            except InvalidStatus as err:
                status = err.response.status_code
                refusal = status_refusal(self.kind, self.url, status)
                if refusal is not None:
                    raise self._refuse(refusal) from err
                self.logger.warning("%s to %s: HTTP %d; retrying", self.label, self.url, status)
            except (OSError, websockets.WebSocketException, WireError, TimeoutError) as err:
                if not down_logged:  # once per outage; the process goes on journaling
                    pending = await self._io(self.journal.pending)  # a SQLite read: off the loop
                    self.logger.warning(self.outage_log, self.url, type(err).__name__, pending)
                    down_logged = True
            finally:
                self._ws = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = backoff(delay)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                msg = decode_server_message(raw)
            except WireError as err:
                self.logger.warning("bad message from server: %s", err)
                continue
            if isinstance(msg, BatchAck | ErrorMsg):
                await self._acks.put(msg)
            else:
                await self.received(msg)

    async def _stream(self, ws: ClientConnection, reader: asyncio.Task[None]) -> None:
        while not reader.done():
            self._wake.clear()  # before reading: a row journaled from here on wakes the next round
            await self.before_round(ws)
            rows = await self._io(self.journal.unacked_raw, self.batch_size)
            if not rows:
                if not self._wake.is_set():
                    self.idle.set()
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                continue
            rows = fit(rows, BATCH_BYTES)
            batch_id = uuid.uuid4().hex
            await ws.send(self.encode_batch(batch_id, [body for _, body in rows]).decode())
            self.sent_batches += 1
            reply = await self._await_reply(batch_id, reader)
            if isinstance(reply, BatchAck):
                if reply.rejected:
                    self.logger.warning(self.set_aside_log, reply.rejected, batch_id)
                await self._io(self.journal.mark_acked, [row_id for row_id, _ in rows])
            else:
                self.logger.warning("batch refused (%s: %s); retrying", reply.code, reply.message)
                await asyncio.sleep(self.retry_s)

    async def _await_reply(self, batch_id: str, reader: asyncio.Task[None]) -> BatchAck | ErrorMsg:
        async with asyncio.timeout(self.ack_timeout_s):
            while True:
                getter = asyncio.ensure_future(self._acks.get())
                try:
                    done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                finally:  # on a timeout too: a getter left waiting would swallow a later ack
                    getter.cancel()
                if getter not in done:
                    raise ConnectionError("connection closed while waiting for an ack")
                reply = getter.result()
                if isinstance(reply, ErrorMsg) or reply.batch_id == batch_id:
                    return reply
