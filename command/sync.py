"""Pushes list changes (revocations, registered faces, keys, watchlist entries) to connected gates.

One LISTEN connection per server hears `pg_notify('eventguard_sync', event_id)` from the
triggers in sql/0002 — whoever made the change (CLI, REST, another server) — and wakes the
gate connections of that event; the payload '*' (sync_store.ALL_EVENTS, venue-wide watchlist changes
from sql/0005) wakes every gate connection. Each gate connection has a GateSync task that, when woken,
reads what changed after the version that gate already has (command.sync_store.changes) and
sends it as ListSync messages. A slow safety poll covers a lost LISTEN connection.

Protocol: after Welcome the gate sends SyncRequest(event_id, since_version = its persisted
version); the server answers with ListSync chunks up to the current watermark, then sends
more ListSync messages whenever something changes, for as long as the socket is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from aiohttp import web

from command import sync_store
from command.photo_seal import KeyFile
from eventguard.wire import ListSync, Msg, PublicKey

log = logging.getLogger(__name__)


class SyncFeed:
    """LISTENs for list changes (or on another `channel`: the evacuation's, sql/0025) and lets gate
    connections (or the evacuation push, command/evacuation_api.py) wait for the next one."""

    def __init__(self, dsn: str, *, retry_s: float = 1.0, channel: str = sync_store.CHANNEL,
                 name: str = "sync") -> None:
        self.dsn = dsn
        self.retry_s = retry_s
        self.channel = channel
        self.name = name  # in the log line of a lost connection
        self.generation = 0  # bumped on every notification and every (re)connect
        self.notifications = 0
        self.listening = asyncio.Event()
        self._changed = asyncio.Event()

    def _bump(self) -> None:
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_notification(self, conn: object, pid: int, channel: str, payload: str) -> None:
        # Every gate connection wakes on any payload (an event id or sync_store.ALL_EVENTS): waking
        # a gate of another event costs one read and at most a ListSync that only moves its version.
        self.notifications += 1
        self._bump()

    async def run(self) -> None:
        """Listen forever, reconnecting after a lost connection (cancel to stop)."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                await conn.add_listener(self.channel, self._on_notification)
                self.listening.set()
                self._bump()  # changes made while we were not listening
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                log.warning("%s listener unavailable (%s); retrying", self.name, type(err).__name__)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(self.retry_s)

    async def wait(self, seen: int, within_s: float) -> int:
        """Wait until the generation moves past `seen` (or within_s passes); the current generation."""
        if self.generation == seen:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within_s):
                    await self._changed.wait()
        return self.generation


class GateSync:
    """Brings one connected gate's lists up to date and keeps them there."""

    def __init__(self, feed: SyncFeed, pool: asyncpg.Pool, event_id: str, gate_id: str,
                 send: Callable[[Msg], Awaitable[None]], *, poll_s: float = 15.0,
                 photos: Callable[[str, bytes], bytes] | None = None, id_key: KeyFile | None = None,
                 face_key: KeyFile | None = None) -> None:
        self.feed = feed
        self.pool = pool
        self.event_id = event_id
        self.gate_id = gate_id
        self.send = send
        self.poll_s = poll_s
        self.photo = photos  # sealed registered photo -> small JPEG (command/holder_cards.py)
        self.id_key = id_key  # the ID-number HMAC key, for 人证票合一 at the gate
        self.face_key = face_key  # opens the embeddings sealed in the database (command/face_seal.py)
        self.version = 0
        self._keys: tuple[PublicKey, ...] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, since_version: int) -> None:
        """(Re)start pushing from the version the gate says it has."""
        self.stop()
        self.version = since_version
        self._keys = None
        self._task = asyncio.create_task(self._run(), name=f"sync-{self.gate_id}")

    def stop(self) -> None:
        """Stop pushing (the connection is closing)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def push_once(self) -> list[ListSync]:
        """Send whatever changed since the gate's version; the messages sent."""
        id_key = await asyncio.to_thread(self.id_key.get) if self.id_key is not None else b""
        face_key = await asyncio.to_thread(self.face_key.get) if self.face_key is not None else None
        async with self.pool.acquire(timeout=10) as conn:
            msgs = await sync_store.changes(conn, self.event_id, self.version, gate_id=self.gate_id,
                                            known_keys=self._keys, photo=self.photo, id_key=id_key,
                                            face_key=face_key)
        for m in msgs:
            await self.send(m)
            self.version = m.version
            self._keys = m.keys
        if msgs:
            n = sum(len(m.revoked) + len(m.holders_added) + len(m.holders_removed) + len(m.watch_added)
                    + len(m.watch_removed) for m in msgs)
            log.info("sync -> %s: version %d (%d changes, %d messages)", self.gate_id, self.version,
                     n, len(msgs))
        return msgs

    async def _run(self) -> None:
        seen = self.feed.generation
        while True:
            try:
                await self.push_once()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
                log.warning("sync to %s failed (%s); will retry", self.gate_id, type(err).__name__)
            except ConnectionError:
                return  # the socket is gone
            seen = await self.feed.wait(seen, self.poll_s)


FEED = web.AppKey("sync_feed", SyncFeed)


async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the LISTEN loop for the server's lifetime (after the database ctx)."""
    from command.appkeys import SETTINGS

    feed = SyncFeed(app[SETTINGS].database_url)
    app[FEED] = feed
    task = asyncio.create_task(feed.run(), name="sync-feed")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
