"""The gate's link to the command server (/ws/gate): replays the journal in order, batch by
batch, as eventguard.uplink does for every journal (the shared loop: acks, resends, back-off,
refusals). What is the gate's own: what a welcome must carry, the SyncRequest that opens every
connection, the server's lists and orders handed to the service, and a refusal that stops the
gate (`stopped`) rather than raise out of run().
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from eventguard.uplink import JournalUplink
from eventguard.wire import Msg, ServerMessage, Welcome, encode_event_batch
from gate.errors import UplinkRefused
from gate.journal import Journal

log = logging.getLogger(__name__)


def wrong_welcome(welcome: Welcome, *, url: str, gate_id: str | None, event_id: str | None) -> str | None:
    """Why the gate must stop when the server at url welcomes it so (another gate's token, a
    server of another event); None to go on (None ids: anything is right)."""
    if gate_id is not None and welcome.subject != gate_id:
        return (f"the token in use belongs to gate {welcome.subject!r}, not {gate_id!r}: "
                f"give this gate its own token (eventguard gates token {gate_id})")
    if event_id is not None and welcome.event_id and welcome.event_id != event_id:
        return (f"the command server at {url} serves event {welcome.event_id!r}, this gate "
                f"is configured for {event_id!r}: check --venue/--event or --server")
    return None


class Uplink(JournalUplink):
    """Keeps the gate's journal flowing to the server whenever it is reachable."""

    kind = "gate"
    label = "uplink"
    outage_log = "command server unreachable at %s (%s); deciding offline, %d events pending"
    set_aside_log = "server set aside %d event(s) of batch %s (see its rejected_events)"
    refusal = UplinkRefused
    logger = log
    max_size = 1 << 22  # list syncs (faces, holder cards) are large

    def __init__(self, url: str, token: str, journal: Journal, executor: Executor, *,
                 batch_size: int = 500, ack_timeout_s: float = 10.0, retry_s: float = 1.0,
                 on_message: Callable[[ServerMessage], Awaitable[None]] | None = None,
                 hello: Callable[[], Msg | None] | None = None, gate_id: str | None = None,
                 event_id: str | None = None) -> None:
        super().__init__(url, token, journal, executor, batch_size=batch_size, ack_timeout_s=ack_timeout_s,
                         retry_s=retry_s)
        self.on_message = on_message
        self.hello = hello  # first message after Welcome on every connection (e.g. SyncRequest)
        self.gate_id, self.event_id = gate_id, event_id  # what the server must agree to (None: anything)
        self.stopped = asyncio.Event()  # set when run() gave up (see `refused`)

    def welcome_refusal(self, welcome: Welcome) -> str | None:
        """Another gate's token or a server of another event stops the gate."""
        return wrong_welcome(welcome, url=self.url, gate_id=self.gate_id, event_id=self.event_id)

    def greeting(self) -> Msg | None:
        """What `hello` says (a SyncRequest), if anything."""
        return self.hello() if self.hello is not None else None

    def encode_batch(self, batch_id: str, bodies: list[bytes]) -> bytes:
        """An EventBatch."""
        return encode_event_batch(batch_id, bodies)

    async def received(self, msg: ServerMessage) -> None:
        """Lists, orders and hit acks go to the service."""
        if self.on_message is not None:
            await self.on_message(msg)

    async def run(self) -> None:
        """Connect, replay, stream; forever (cancel to stop), or until the server refuses the gate
        for good (`refused`, `stopped`)."""
        try:
            await super().run()
        except UplinkRefused as err:
            log.error("uplink: %s", err)
            self.stopped.set()
