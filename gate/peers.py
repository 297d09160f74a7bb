"""Peer links: the gates of an event tell each other the presence changes they decide.

The command server is the authority on presence and tells every gate through the list sync.
While gates are cut off from it, the gates that can still reach each other keep sharing
presence directly, so a ticket admitted at one is refused at the others (as `already_inside`)
even during the outage. Each gate learns its peers from the venue file (`[[gates]] address`)
and connects to every peer's `/ws/peer` (gate/app.py); each side sends the changes it decides
(`PeerPresence`) and merges what it is told with eventguard.presence.merge (newest wins).

Authentication: a peer presents `Authorization: Peer <gate id> <hmac>`, the HMAC-SHA256 under
the event's peer key (handed out by the server with every list sync and persisted by gates, so
links work offline) of the event and gate id. A gate that never synced has no key and neither
offers nor accepts links. Changes decided while a link is down wait in a bounded queue and go
out when it is back (changes sent into a link that was already silently dead are lost: the
peer path is best effort, and the server settles any resulting double entry as a conflict);
what a gate only learned from a peer is not persisted (after a restart during an outage it
knows its own decisions and what the server last told it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping

import websockets
from websockets.asyncio.client import connect

from eventguard.wire import PeerPresence, PresenceChange, encode

log = logging.getLogger(__name__)

DOMAIN = b"eventguard-peer-v1:"
QUEUE = 10_000  # changes kept per peer while its link is down (oldest dropped beyond)
BATCH = 500  # changes per message


def credential(key: bytes, event_id: str, gate_id: str) -> str:
    """The HMAC a gate presents to its peers (hex)."""
    return hmac.new(key, DOMAIN + f"{event_id}:{gate_id}".encode(), hashlib.sha256).hexdigest()


def authenticate(header: str, key: bytes, event_id: str, peers: set[str] | frozenset[str]) -> str | None:
    """The peer's gate id if `Authorization: Peer <gate id> <hmac>` is valid, else None."""
    parts = header.split()
    if not key or len(parts) != 3 or parts[0] != "Peer" or parts[1] not in peers:
        return None
    return parts[1] if hmac.compare_digest(parts[2], credential(key, event_id, parts[1])) else None


class PeerLinks:
    """Outgoing links of one gate to each of its peers."""

    def __init__(self, gate_id: str, event_id: str, peers: Mapping[str, str], key: Callable[[], bytes],
                 retry_s: float = 1.0) -> None:
        self.gate_id, self.event_id, self.peers, self.key = gate_id, event_id, dict(peers), key
        self.retry_s = retry_s
        self._queues: dict[str, asyncio.Queue[PresenceChange]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.connected: dict[str, bool] = {}

    def start(self) -> None:
        """Connect to every peer (and keep reconnecting) until stopped; feed it with tell()."""
        for gate_id, url in self.peers.items():
            self._queues[gate_id] = asyncio.Queue(QUEUE)
            self.connected[gate_id] = False
            self._tasks.append(asyncio.create_task(self._link(gate_id, url), name=f"peer-{gate_id}"))

    async def stop(self) -> None:
        """Close every link."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()

    def tell(self, change: PresenceChange) -> None:
        """Queue one change for every peer (dropping the oldest when a queue is full)."""
        for q in self._queues.values():
            if q.full():
                q.get_nowait()
            q.put_nowait(change)

    async def _link(self, gate_id: str, url: str) -> None:
        q = self._queues[gate_id]
        me, event_id = self.gate_id, self.event_id
        while True:
            key = self.key()
            if not key:
                await asyncio.sleep(self.retry_s)  # no peer key yet: the first sync brings it
                continue
            try:
                async with connect(url, additional_headers={
                        "Authorization": f"Peer {me} {credential(key, event_id, me)}"},
                        open_timeout=5, ping_interval=5, ping_timeout=5) as ws:
                    self.connected[gate_id] = True
                    log.info("gate %s: peer link to %s up", me, gate_id)
                    closed = asyncio.ensure_future(ws.wait_closed())  # a failed keepalive ends it
                    try:
                        while True:
                            first = asyncio.ensure_future(q.get())
                            await asyncio.wait({first, closed}, return_when=asyncio.FIRST_COMPLETED)
                            if not first.done():
                                first.cancel()
                                raise ConnectionError("link closed")
                            batch = [first.result()]
                            while not q.empty() and len(batch) < BATCH:
                                batch.append(q.get_nowait())
                            try:
                                await ws.send(encode(PeerPresence(gate_id=me, changes=tuple(batch))).decode())
                            except BaseException:
                                for c in reversed(batch):  # keep them for the next link
                                    with contextlib.suppress(asyncio.QueueFull):
                                        q.put_nowait(c)
                                raise
                    finally:
                        closed.cancel()
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as err:
                if self.connected.get(gate_id):
                    log.warning("gate %s: peer link to %s down: %s", me, gate_id, err)
                self.connected[gate_id] = False
                await asyncio.sleep(self.retry_s)
