"""Fan-out of live updates to websocket subscribers with bounded per-client buffers.

A client that does not keep up is not allowed to stall the others: when its buffer is
full its pending deltas are dropped and it gets a fresh snapshot instead (resync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSMsgType, web

_RESYNC = b""  # sentinel in a queue: send a snapshot instead of the dropped deltas


class Subscriber:
    """One live websocket client."""

    def __init__(self, ws: web.WebSocketResponse, limit: int, *, viewer: bool = False) -> None:
        self.ws = ws
        self.viewer = viewer  # gets the viewer's version of messages that have one
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=limit)
        self.resync_pending = False
        self.resyncs = 0

    def offer(self, data: bytes) -> None:
        """Queue a delta; when the buffer is full drop it all and queue a resync."""
        if self.resync_pending:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resync_pending = True
            self.resyncs += 1
            self.queue.put_nowait(_RESYNC)


class FeedSink(Protocol):
    """A fan-out replica's link (command/feed.py): takes every message, staff and viewer versions."""

    def offer(self, data: bytes, viewer: bytes) -> None:
        """Queue one message (never blocks)."""


class Hub:
    """All live subscribers of one server."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self.subscribers: set[Subscriber] = set()
        self.feeds: set[FeedSink] = set()  # fan-out replicas (command/feed.py): every message, both versions

    def publish(self, text: str, *, viewer: str | None = None) -> None:
        """Offer one message to every subscriber (never blocks); UTF-8 encoded once for all.
        `viewer`: the version viewers get instead (screening details withheld)."""
        data = text.encode()
        redacted = viewer.encode() if viewer is not None else data
        for s in self.subscribers:
            s.offer(redacted if s.viewer else data)
        for f in self.feeds:
            f.offer(data, redacted)

    def attach(self, ws: web.WebSocketResponse, *, viewer: bool = False) -> Subscriber:
        """Register a client; it receives deltas published from now on."""
        sub = Subscriber(ws, self.limit, viewer=viewer)
        self.subscribers.add(sub)
        return sub

    def detach(self, sub: Subscriber) -> None:
        """Forget a client."""
        self.subscribers.discard(sub)

    async def pump(self, sub: Subscriber, snapshot: Callable[[], Awaitable[str]]) -> None:
        """Send the snapshot, then queued deltas (or a new snapshot after an overflow)."""
        await sub.ws.send_str(await snapshot())
        while not sub.ws.closed:
            data = await sub.queue.get()
            if data == _RESYNC:
                sub.resync_pending = False
                await sub.ws.send_str(await snapshot())
                continue
            await sub.ws.send_frame(data, WSMsgType.TEXT)  # already UTF-8: no per-client encoding
