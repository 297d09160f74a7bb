"""The gate's local journal: every event is fsync'd to SQLite before it counts.

Events stay in the journal until the command server acknowledges them; on reconnect the
unacknowledged ones are replayed (the server de-duplicates by event id). The journal also
keeps this gate's own presence changes (eventguard.presence: ticket, inside or out, when) so a
restarted gate still knows them; the venue-wide ones come with the list sync (ListCache).
All methods are blocking; the service calls them through its single journal thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import msgspec

from eventguard.presence import Stay
from eventguard.wire import EventKind, GateEvent, WatchlistHitReport
from gate.checks import OpenCheck
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
CREATE TABLE IF NOT EXISTS presence (ticket_id TEXT PRIMARY KEY, inside INTEGER NOT NULL,
                                     gate_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hits (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    body     BLOB NOT NULL,
    sent     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, entry_id)
);
CREATE TABLE IF NOT EXISTS checks (  -- secondary checks (gate/checks.py): open until a steward decides
    check_id TEXT PRIMARY KEY,
    body     BLOB NOT NULL,
    closed   INTEGER NOT NULL DEFAULT 0,
    seq      INTEGER NOT NULL
);
"""

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(GateEvent)
_hit_dec = msgspec.json.Decoder(WatchlistHitReport)
_check_dec = msgspec.json.Decoder(OpenCheck)


class Journal:
    """A durable, append-only event log with acknowledgement marks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_private(self.path)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync on every commit
        self._db.executescript(_SCHEMA)
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(hits)")}
        if "tried_at" not in cols:  # journals written before hits waited for the server's HitAck
            self._db.execute("ALTER TABLE hits ADD COLUMN tried_at REAL")

    def append(self, event: GateEvent) -> bool:
        """Durably record an event (and its anti-passback effect); False if already there."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                new = self._insert(event)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return new

    def _insert(self, event: GateEvent) -> bool:
        """Insert an event and its presence effect, in the caller's transaction."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO events (event_id, kind, lane, body) VALUES (?, ?, ?, ?)",
            (event.event_id, event.kind.value, event.lane, _enc.encode(event)))
        if cur.rowcount and event.ticket_id and event.kind in (EventKind.ENTRY, EventKind.EXIT):
            self._db.execute(  # the newest change of a ticket wins (gate clock)
                "INSERT INTO presence VALUES (?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET "
                "inside = excluded.inside, gate_id = excluded.gate_id, at = excluded.at "
                "WHERE excluded.at >= presence.at",
                (event.ticket_id, int(event.kind is EventKind.ENTRY), event.gate_id, event.at))
        return bool(cur.rowcount)

    # ---- secondary checks (gate/checks.py) ---------------------------------------------------

    def open_check(self, check: OpenCheck) -> bool:
        """Keep a new secondary check until it is decided; False if it was there already."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO checks (check_id, body, seq) VALUES (?, ?, "
                "(SELECT coalesce(max(seq), 0) + 1 FROM checks))", (check.check_id, _enc.encode(check)))
            return bool(cur.rowcount)

    def open_checks(self) -> list[OpenCheck]:
        """Checks not decided yet, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM checks WHERE closed = 0 ORDER BY seq").fetchall()
        return [_check_dec.decode(r[0]) for r in rows]

    def decide_check(self, event: GateEvent, still_open: OpenCheck | None) -> bool:
        """Record a steward's decision and the check's new state in one transaction: closed
        (`still_open` None) or kept open as given (escalated). False if the event was there."""
        assert event.steward is not None
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                new = self._insert(event)
                if new and still_open is None:
                    self._db.execute("UPDATE checks SET closed = 1 WHERE check_id = ?", (event.steward.check_id,))
                elif new and still_open is not None:
                    self._db.execute("UPDATE checks SET body = ? WHERE check_id = ?",
                                     (_enc.encode(still_open), still_open.check_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return new

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

    def get(self, event_id: str) -> GateEvent | None:
        """The recorded event with this id, if any (a retried scan returns it)."""
        with self._lock:
            row = self._db.execute("SELECT body FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return _dec.decode(row[0]) if row else None

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

    def presence(self) -> dict[str, Stay]:
        """This gate's own last presence change of each ticket it admitted or let out."""
        with self._lock:
            rows = self._db.execute("SELECT ticket_id, inside, gate_id, at FROM presence").fetchall()
        return {t: Stay(bool(i), g, float(a)) for t, i, g, a in rows}

    def inside(self) -> set[str]:
        """Tickets this gate let in and has not seen leave (by its own events only)."""
        return {t for t, s in self.presence().items() if s.inside}

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
        """Oldest hit reports the server has not confirmed storing (HitAck) yet."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM hits WHERE sent = 0 ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_hit_dec.decode(r[0]) for r in rows]

    def hits_to_send(self, now: float, retry_s: float = 10.0, limit: int = 100) -> list[WatchlistHitReport]:
        """Unconfirmed hit reports never sent, or sent more than retry_s ago with no HitAck."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM hits WHERE sent = 0 AND (tried_at IS NULL OR tried_at < ?)"
                                    " ORDER BY seq LIMIT ?", (now - retry_s, limit)).fetchall()
        return [_hit_dec.decode(r[0]) for r in rows]

    def mark_hit_tried(self, event_id: str, entry_id: str, now: float) -> None:
        """A hit report went out; it stays in the journal until the server confirms it."""
        with self._lock:
            self._db.execute("UPDATE hits SET tried_at = ? WHERE event_id = ? AND entry_id = ?",
                             (now, event_id, entry_id))

    def mark_hit_sent(self, event_id: str, entry_id: str) -> None:
        """The server confirmed storing the hit report (HitAck): it is done."""
        with self._lock:
            self._db.execute("UPDATE hits SET sent = 1 WHERE event_id = ? AND entry_id = ?", (event_id, entry_id))

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
