"""The gate's local journal: every event is fsync'd to SQLite before it counts.

Events stay in the journal until the command server acknowledges them; on reconnect the
unacknowledged ones are replayed (the server de-duplicates by event id). The journal also
keeps the local anti-passback set (tickets inside) so a restarted gate still knows it.
All methods are blocking; the service calls them through its single journal thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import msgspec

from eventguard.wire import EventKind, GateEvent, WatchlistHitReport
from gate.private_files import open_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL,
    lane     INTEGER NOT NULL,
    body     BLOB NOT NULL,
    acked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_unacked ON events (acked, seq);
CREATE TABLE IF NOT EXISTS inside (ticket_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hits (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    body     BLOB NOT NULL,
    sent     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, entry_id)
);
"""

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(GateEvent)
_hit_dec = msgspec.json.Decoder(WatchlistHitReport)


class Journal:
    """A durable, append-only event log with acknowledgement marks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_private(self.path)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync on every commit
        self._db.executescript(_SCHEMA)

    def append(self, event: GateEvent) -> bool:
        """Durably record an event (and its anti-passback effect); False if already there."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO events (event_id, kind, lane, body) VALUES (?, ?, ?, ?)",
                    (event.event_id, event.kind.value, event.lane, _enc.encode(event)))
                if cur.rowcount and event.ticket_id:
                    if event.kind is EventKind.ENTRY:
                        self._db.execute("INSERT OR IGNORE INTO inside VALUES (?)", (event.ticket_id,))
                    elif event.kind is EventKind.EXIT:
                        self._db.execute("DELETE FROM inside WHERE ticket_id = ?", (event.ticket_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return bool(cur.rowcount)

    def unacked(self, limit: int = 500) -> list[GateEvent]:
        """Oldest events the server has not acknowledged yet."""
        return [_dec.decode(body) for _, body in self.unacked_raw(limit)]

    def unacked_raw(self, limit: int = 500) -> list[tuple[str, bytes]]:
        """(event id, JSON as journaled) of the oldest unacknowledged events: sent as they are,
        so an event journaled by an older version with a value the wire now refuses still goes
        out, and the server sets it aside instead of it blocking the journal."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body FROM events WHERE acked = 0 ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def mark_acked(self, event_ids: Iterable[str]) -> None:
        """Record the server's acknowledgement of these events."""
        ids = [(i,) for i in event_ids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE events SET acked = 1 WHERE event_id = ?", ids)
            self._db.execute("COMMIT")

    def pending(self) -> int:
        """Number of events not acknowledged yet."""
        with self._lock:
            n: int = self._db.execute("SELECT count(*) FROM events WHERE acked = 0").fetchone()[0]
        return n

    def counts(self) -> dict[tuple[int, str], int]:
        """(lane, kind) -> number of events the gate recorded."""
        with self._lock:
            rows = self._db.execute("SELECT lane, kind, count(*) FROM events GROUP BY lane, kind").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def inside(self) -> set[str]:
        """Tickets this gate let in and has not seen leave."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT ticket_id FROM inside")}

    def event_ids(self) -> list[str]:
        """Every event id recorded, in order."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT event_id FROM events ORDER BY seq")]

    def add_hits(self, reports: Iterable[WatchlistHitReport]) -> None:
        """Durably keep watchlist hit reports until they are sent (idempotent per event and entry)."""
        rows = [(r.event_id, r.entry_id, _enc.encode(r)) for r in reports]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO hits (event_id, entry_id, body) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def unsent_hits(self, limit: int = 100) -> list[WatchlistHitReport]:
        """Oldest hit reports not yet handed to the server."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM hits WHERE sent = 0 ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_hit_dec.decode(r[0]) for r in rows]

    def mark_hit_sent(self, event_id: str, entry_id: str) -> None:
        """Record that a hit report went out on a live connection."""
        with self._lock:
            self._db.execute("UPDATE hits SET sent = 1 WHERE event_id = ? AND entry_id = ?", (event_id, entry_id))

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
