"""A camera's link to the command server (/ws/camera): replays its journal in order, a batch at
a time, marking reports acknowledged only once the server's BatchAck says they are stored.
Lost connections, refusals and timeouts lead to the same thing: wait, reconnect, resend (the
server de-duplicates by report id). A refused token or a server of another event stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from camera.errors import UplinkRefused
from camera.journal import CameraJournal
from eventguard.errors import WireError
from eventguard.uplink import BATCH_BYTES, fit
from eventguard.wire import (
    BatchAck,
    CameraLive,
    ErrorMsg,
    Welcome,
    decode_server_message,
    encode,
    encode_camera_batch,
)

log = logging.getLogger(__name__)


class CameraUplink:
    """Keeps the journal flowing to the server whenever it is reachable."""

    def __init__(self, url: str, token: str, journal: CameraJournal, executor: Executor, *, camera_id: str,
                 event_id: str, batch_size: int = 200, ack_timeout_s: float = 10.0, retry_s: float = 1.0) -> None:
        self.url, self.token, self.journal, self.executor = url, token, journal, executor
        self.camera_id, self.event_id = camera_id, event_id
        self.batch_size, self.ack_timeout_s, self.retry_s = batch_size, ack_timeout_s, retry_s
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()  # connected and nothing left to send
        self.refused: UplinkRefused | None = None
        self._live: bytes | None = None  # the newest live message (density grid, thumbnail), not journaled
        self.live_sent = 0

    def notify(self) -> None:
        """New reports are in the journal (call on the loop)."""
        self.idle.clear()
        self._wake.set()

    def offer_live(self, msg: CameraLive) -> None:
        """Send this live message when next connected (call on the loop); only the newest is kept:
        a grid or a frame is worth nothing once a newer one exists."""
        self._live = encode(msg)
        self._wake.set()

    async def _send_live(self, ws: ClientConnection) -> None:
        if self._live is not None:
            data, self._live = self._live, None
            await ws.send(data.decode())
            self.live_sent += 1

    async def _io(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _refuse(self, message: str) -> UplinkRefused:
        self.refused = UplinkRefused(message)
        return self.refused

    async def run(self) -> None:
        """Connect, replay, stream; until cancelled or refused for good (then `refused` is set)."""
        delay = self.retry_s
        down_logged = False
        while True:
            try:
                async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                   open_timeout=5, ping_interval=10, ping_timeout=10) as ws:
                    first = decode_server_message(await asyncio.wait_for(ws.recv(), 5))
                    if not isinstance(first, Welcome):
                        raise WireError(f"expected welcome, got {type(first).__name__}")
                    if first.subject != self.camera_id:
                        raise self._refuse(f"the token in use belongs to {first.subject!r}, not camera "
                                           f"{self.camera_id!r}: eventguard cameras token {self.camera_id}")
                    if first.event_id and first.event_id != self.event_id:
                        raise self._refuse(f"the command server at {self.url} serves event {first.event_id!r}, "
                                           f"this camera is configured for {self.event_id!r}")
                    self.connected.set()
                    delay, down_logged = self.retry_s, False
                    log.info("camera uplink connected to %s as %s", self.url, first.subject)
                    await self._stream(ws)
            except (asyncio.CancelledError, UplinkRefused):
                raise
            except InvalidStatus as err:
                status = err.response.status_code
                if status in (401, 403):
                    raise self._refuse(f"the command server at {self.url} refused this camera's token (HTTP "
                                       f"{status}): check --token-file (eventguard cameras token CAMERA)") from err
                if status == 404:
                    raise self._refuse(f"no camera endpoint at {self.url} (HTTP 404): the path is /ws/camera") from err
                log.warning("camera uplink to %s: HTTP %d; retrying", self.url, status)
            except (OSError, websockets.WebSocketException, WireError, TimeoutError) as err:
                if not down_logged:
                    log.warning("command server unreachable at %s (%s); journaling, %d reports pending",
                                self.url, type(err).__name__, self.journal.pending())
                    down_logged = True
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _stream(self, ws: ClientConnection) -> None:
        while True:
            self._wake.clear()  # before reading: a report journaled from here on wakes the next round
            await self._send_live(ws)
            rows = await asyncio.get_running_loop().run_in_executor(self.executor, self.journal.unacked_raw,
                                                                    self.batch_size)
            if not rows:
                if not self._wake.is_set():
                    self.idle.set()
                with contextlib.suppress(TimeoutError):  # look again now and then (and notice a closed socket)
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                if ws.close_code is not None:
                    raise websockets.ConnectionClosedOK(None, None)
                continue
            rows = fit(rows, BATCH_BYTES)
            batch_id = uuid.uuid4().hex
            await ws.send(encode_camera_batch(batch_id, [body for _, body in rows]).decode())
            reply = await self._reply(ws, batch_id)
            if isinstance(reply, BatchAck):
                if reply.rejected:
                    log.warning("server set aside %d report(s) of batch %s", reply.rejected, batch_id)
                await self._io(self.journal.mark_acked, [rid for rid, _ in rows])
            else:
                log.warning("batch refused (%s: %s); retrying", reply.code, reply.message)
                await asyncio.sleep(self.retry_s)

    async def _reply(self, ws: ClientConnection, batch_id: str) -> BatchAck | ErrorMsg:
        async with asyncio.timeout(self.ack_timeout_s):
            while True:
                msg = decode_server_message(await ws.recv())
                if isinstance(msg, ErrorMsg) or (isinstance(msg, BatchAck) and msg.batch_id == batch_id):
                    return msg
