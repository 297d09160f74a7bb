"""A camera's link to the command server (/ws/camera): replays its journal in order, a batch at
a time, as eventguard.uplink does for every journal (the shared loop: acks, resends, back-off,
refusals; the server de-duplicates by report id). What is the camera's own: what a welcome must
carry, and its live message (density grid, thumbnail), which is never journaled: only the
newest waits for the link. A refused token or a server of another event raises out of run().
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from websockets.asyncio.client import ClientConnection

from camera.errors import UplinkRefused
from camera.journal import CameraJournal
from eventguard.uplink import JournalUplink
from eventguard.wire import CameraLive, Welcome, encode, encode_camera_batch

log = logging.getLogger(__name__)


def wrong_welcome(welcome: Welcome, *, url: str, camera_id: str, event_id: str) -> str | None:
    """Why the camera must stop when the server at url welcomes it so (another's token, a server
    of another event); None to go on."""
    if welcome.subject != camera_id:
        return (f"the token in use belongs to {welcome.subject!r}, not camera "
                f"{camera_id!r}: eventguard cameras token {camera_id}")
    if welcome.event_id and welcome.event_id != event_id:
        return (f"the command server at {url} serves event {welcome.event_id!r}, "
                f"this camera is configured for {event_id!r}")
    return None


class CameraUplink(JournalUplink):
    """Keeps the camera's journal flowing to the server whenever it is reachable."""

    kind = "camera"
    label = "camera uplink"
    outage_log = "command server unreachable at %s (%s); journaling, %d reports pending"
    set_aside_log = "server set aside %d report(s) of batch %s"
    refusal = UplinkRefused
    logger = log

    def __init__(self, url: str, token: str, journal: CameraJournal, executor: Executor, *, camera_id: str,
                 event_id: str, batch_size: int = 200, ack_timeout_s: float = 10.0, retry_s: float = 1.0) -> None:
        super().__init__(url, token, journal, executor, batch_size=batch_size, ack_timeout_s=ack_timeout_s,
                         retry_s=retry_s)
        self.camera_id, self.event_id = camera_id, event_id
        self._live: bytes | None = None  # the newest live message (density grid, thumbnail), not journaled
        self.live_sent = 0

    def offer_live(self, msg: CameraLive) -> None:
        """Send this live message when next connected (call on the loop); only the newest is kept:
        a grid or a frame is worth nothing once a newer one exists."""
        self._live = encode(msg)
        self._wake.set()

    def welcome_refusal(self, welcome: Welcome) -> str | None:
        """Another's token or a server of another event stops the camera."""
        return wrong_welcome(welcome, url=self.url, camera_id=self.camera_id, event_id=self.event_id)

    def encode_batch(self, batch_id: str, bodies: list[bytes]) -> bytes:
        """A CameraBatch."""
        return encode_camera_batch(batch_id, bodies)

    async def before_round(self, ws: ClientConnection) -> None:
        """The newest live message, if one waits."""
        if self._live is not None:
            data, self._live = self._live, None
            await ws.send(data.decode())
            self.live_sent += 1
