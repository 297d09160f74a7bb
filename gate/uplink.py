"""The gate's link to the command server: replays the journal in order, batch by batch.

One batch is in flight at a time; it is marked acknowledged in the journal only after the
server's BatchAck says it is stored. Lost connections, refused batches (database down) and
timeouts all lead to the same thing: wait, reconnect, resend. The server de-duplicates by
event id, so a resend after a lost ack never double counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from eventguard.errors import WireError
from eventguard.uplink import BATCH_BYTES, fit
from eventguard.wire import (
    BatchAck,
    ErrorMsg,
    Msg,
    ServerMessage,
    Welcome,
    decode_server_message,
    encode,
    encode_event_batch,
)
from gate.errors import UplinkRefused
from gate.journal import Journal

log = logging.getLogger(__name__)


class Uplink:
    """Keeps the journal flowing to the server whenever it is reachable."""

    def __init__(self, url: str, token: str, journal: Journal, executor: Executor, *,
                 batch_size: int = 500, ack_timeout_s: float = 10.0, retry_s: float = 1.0,
                 on_message: Callable[[ServerMessage], Awaitable[None]] | None = None,
                 hello: Callable[[], Msg | None] | None = None, gate_id: str | None = None,
                 event_id: str | None = None) -> None:
        self.url = url
        self.token = token
        self.journal = journal
        self.executor = executor
        self.batch_size = batch_size
        self.ack_timeout_s = ack_timeout_s
        self.retry_s = retry_s
        self.on_message = on_message
        self.hello = hello  # first message after Welcome on every connection (e.g. SyncRequest)
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._acks: asyncio.Queue[BatchAck | ErrorMsg] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self.sent_batches = 0
        self.gate_id, self.event_id = gate_id, event_id  # what the server must agree to (None: anything)
        self.refused: UplinkRefused | None = None  # set when retrying cannot help; run() then returns
        self.stopped = asyncio.Event()  # set when run() gave up (see `refused`)

    def notify(self) -> None:
        """New events are in the journal."""
        self._wake.set()

    async def _io(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def send(self, msg: Msg) -> bool:
        """Send a message now if connected (orders acks, hit reports); False if offline."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(encode(msg).decode())
            return True
        except websockets.ConnectionClosed:
            return False

    def _refuse(self, message: str) -> UplinkRefused:
        self.refused = UplinkRefused(message)
        log.error("uplink: %s", message)
        return self.refused

    def _check_welcome(self, welcome: Welcome) -> None:
        if self.gate_id is not None and welcome.subject != self.gate_id:
            raise self._refuse(f"the token in use belongs to gate {welcome.subject!r}, not {self.gate_id!r}: "
                               f"give this gate its own token (eventguard gates token {self.gate_id})")
        if self.event_id is not None and welcome.event_id and welcome.event_id != self.event_id:
            raise self._refuse(f"the command server at {self.url} serves event {welcome.event_id!r}, this gate "
                               f"is configured for {self.event_id!r}: check --venue/--event or --server")

    async def run(self) -> None:
        """Connect, replay, stream; forever (cancel to stop), or until the server refuses the gate
        for good (`refused`, `stopped`)."""
        try:
            await self._run()
        except UplinkRefused:
            self.stopped.set()

    async def _run(self) -> None:
        delay = self.retry_s
        down_logged = False
        while True:
            try:
                async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                   open_timeout=5, ping_interval=10, ping_timeout=10,
                                   max_size=1 << 22) as ws:
                    first = decode_server_message(await asyncio.wait_for(ws.recv(), 5))
                    if not isinstance(first, Welcome):
                        raise WireError(f"expected welcome, got {type(first).__name__}")
                    self._check_welcome(first)
                    down_logged = False
                    greeting = self.hello() if self.hello is not None else None
                    if greeting is not None:
                        await ws.send(encode(greeting).decode())
                    self._acks = asyncio.Queue()  # replies meant for an earlier connection are void
                    self._ws = ws
                    self.connected.set()
                    delay = self.retry_s
                    log.info("uplink connected to %s as %s", self.url, first.subject)
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
                if status in (401, 403):
                    raise self._refuse(f"the command server at {self.url} refused this gate's token "
                                       f"(HTTP {status}): check --token-file (eventguard gates token GATE)") from err
                if status == 404:
                    raise self._refuse(f"no gate endpoint at {self.url} (HTTP 404): the path is /ws/gate") from err
                log.warning("uplink to %s: HTTP %d; retrying", self.url, status)
            except (OSError, websockets.WebSocketException, WireError, TimeoutError) as err:
                if not down_logged:  # once per outage; the gate keeps deciding and journaling
                    log.warning("command server unreachable at %s (%s); deciding offline, %d events pending",
                                self.url, type(err).__name__ or str(err), self.journal.pending())
                    down_logged = True
            finally:
                self._ws = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                msg = decode_server_message(raw)
            except WireError as err:
                log.warning("bad message from server: %s", err)
                continue
            if isinstance(msg, BatchAck | ErrorMsg):
                await self._acks.put(msg)
            elif self.on_message is not None:
                await self.on_message(msg)

    async def _stream(self, ws: ClientConnection, reader: asyncio.Task[None]) -> None:
        while not reader.done():
            self._wake.clear()  # before reading: an event journaled from here on wakes the next round
            rows = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.journal.unacked_raw, self.batch_size)
            if not rows:
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                continue
            rows = fit(rows, BATCH_BYTES)
            batch_id = uuid.uuid4().hex
            await ws.send(encode_event_batch(batch_id, [body for _, body in rows]).decode())
            self.sent_batches += 1
            reply = await self._await_reply(batch_id, reader)
            if isinstance(reply, BatchAck):
                if reply.rejected:
                    log.warning("server set aside %d event(s) of batch %s (see its rejected_events)",
                                reply.rejected, batch_id)
                await asyncio.get_running_loop().run_in_executor(
                    self.executor, self.journal.mark_acked, [event_id for event_id, _ in rows])
            else:
                log.warning("batch refused (%s: %s); retrying", reply.code, reply.message)
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
