"""The feed from the command server to its fan-out replicas (command/live_replica.py).

Ingest must never wait on pushing to thousands of live maps, so the command server sends each
live message once per replica, and the replicas — their own processes, on this machine or
another — serve /ws/live. The feed is one websocket (/ws/feed, a bearer secret shared with the
replicas) carrying binary frames, in publishing order:

    b"A" + message                                   the same for every role
    b"P" + len(staff) (4 bytes, big endian) + staff + viewer   staff and viewer versions
    b"S" + len(staff) + staff + viewer              a snapshot, at its place in the stream
    b"R" + len(staff) + staff + viewer              the same, after messages were dropped:
                                                    every client of the replica must take it

A replica asks for a snapshot with the text message "snapshot"; it comes back in order: every
message before it is older, every message after it newer or already in it (it is taken
after the request is queued). A replica that falls behind by `limit` messages gets a snapshot instead of
the backlog, like a slow live map.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from command.appkeys import HUB, SERVICE
from command.service import snapshot_for_viewer
from eventguard.wire import encode

log = logging.getLogger(__name__)

FEED_TOKEN = web.AppKey("feed_token", str)  # the replicas' shared secret (command/replicas.py)
SNAPSHOT_REQUEST = "snapshot"
FEED_LIMIT = 8192  # messages a replica may be behind before it is resynced


# ---- frames (no I/O) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedFrame:
    """One decoded feed frame."""

    snapshot: bool
    staff: bytes
    viewer: bytes
    resync: bool = False  # a snapshot replacing dropped messages: for every client


def encode_message(data: bytes, viewer: bytes) -> bytes:
    """A live message (one version when staff and viewers see the same)."""
    if viewer is data or viewer == data:
        return b"A" + data
    return b"P" + len(data).to_bytes(4, "big") + data + viewer


def encode_snapshot(staff: bytes, viewer: bytes, *, resync: bool = False) -> bytes:
    """A snapshot's staff and viewer versions."""
    return (b"R" if resync else b"S") + len(staff).to_bytes(4, "big") + staff + viewer


def decode_frame(frame: bytes) -> FeedFrame:
    """Frame -> FeedFrame (ValueError for anything else)."""
    tag, body = frame[:1], frame[1:]
    if tag == b"A":
        return FeedFrame(False, body, body)
    if tag in (b"P", b"S", b"R") and len(body) >= 4:
        n = int.from_bytes(body[:4], "big")
        if 4 + n <= len(body):
            return FeedFrame(tag != b"P", body[4:4 + n], body[4 + n:], resync=tag == b"R")
    raise ValueError(f"bad feed frame (tag {tag!r}, {len(frame)} bytes)")


# ---- the server's side ------------------------------------------------------------------------


class FeedLink:
    """One connected replica: an ordered queue of frames, or of snapshots still being taken."""

    def __init__(self, limit: int = FEED_LIMIT) -> None:
        self.limit = limit
        self.queue: asyncio.Queue[bytes | asyncio.Future[bytes]] = asyncio.Queue()
        # snapshots to take, in order (and whether each replaces dropped messages)
        self.pending: asyncio.Queue[tuple[asyncio.Future[bytes], bool]] = asyncio.Queue()
        self.resyncs = 0

    def offer(self, data: bytes, viewer: bytes) -> None:
        """Queue a message; past `limit` drop the backlog for a snapshot (see resync)."""
        if self.queue.qsize() >= self.limit:
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if isinstance(item, asyncio.Future):
                    item.cancel()
            self.resyncs += 1
            self.request_snapshot(resync=True)
            return
        self.queue.put_nowait(encode_message(data, viewer))

    def request_snapshot(self, *, resync: bool = False) -> None:
        """Queue a snapshot at this point of the stream. It is taken after this call, so every
        message queued before it is in it; messages after it may be too (they replace whole zones,
        gates, alerts: sending one again is harmless)."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending.put_nowait((fut, resync))
        self.queue.put_nowait(fut)


async def feed_ws(request: web.Request) -> web.WebSocketResponse:
    """/ws/feed: a fan-out replica's stream of live messages (bearer = the feed secret)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(token, request.app[FEED_TOKEN]):
        raise web.HTTPUnauthorized(text='{"error":"unauthorized","message":"feed secret required"}',
                                   content_type="application/json")
    hub, service = request.app[HUB], request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1024)
    await ws.prepare(request)
    link = FeedLink()

    async def snapshots() -> None:  # takes the queued snapshots in order
        while True:
            fut, resync = await link.pending.get()
            if fut.cancelled():
                continue
            snap = await service.snapshot_async()
            if not fut.cancelled():
                fut.set_result(encode_snapshot(encode(snap), encode(snapshot_for_viewer(snap)), resync=resync))

    async def pump() -> None:
        while not ws.closed:
            item = await link.queue.get()
            if isinstance(item, asyncio.Future):
                try:
                    item = await item
                except asyncio.CancelledError:
                    if ws.closed:
                        raise
                    continue  # dropped with an overflow; its replacement follows
            await ws.send_bytes(item)

    hub.feeds.add(link)
    tasks = [asyncio.create_task(pump()), asyncio.create_task(snapshots())]
    log.info("fan-out replica connected from %s", request.remote)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == SNAPSHOT_REQUEST:
                link.request_snapshot()
    finally:
        hub.feeds.discard(link)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await t
        log.info("fan-out replica from %s gone", request.remote)
    return ws
