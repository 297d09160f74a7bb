"""A camera's local journal: every report is fsync'd to SQLite before it counts, and kept
until the command server acknowledges it (replayed in order after an outage; the server
de-duplicates by report id). The file is the camera's own (0600, in a 0700 folder when new).
Blocking: the analysis thread appends, the uplink reads through an executor.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import msgspec

from eventguard.wire import CameraReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    body      BLOB NOT NULL,
    acked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_unacked ON reports (acked, seq);
"""
_enc = msgspec.json.Encoder()


def _private(path: Path) -> None:
    """The journal file 0600 (and SQLite's side files), its folder 0700 when this creates it."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if p.exists():
            os.chmod(p, 0o600)


class CameraJournal:
    """Durable, append-only reports with acknowledgement marks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _private(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        _private(self.path)  # the -wal and -shm files exist now

    def append(self, report: CameraReport) -> bool:
        """Durably record a report; False if it is there already."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO reports (report_id, body) VALUES (?, ?)",
                                   (report.report_id, _enc.encode(report)))
            return bool(cur.rowcount)

    def unacked_raw(self, limit: int = 200) -> list[tuple[str, bytes]]:
        """(report id, JSON) of the oldest reports not acknowledged yet."""
        with self._lock:
            rows = self._db.execute("SELECT report_id, body FROM reports WHERE acked = 0 ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def mark_acked(self, report_ids: Iterable[str]) -> None:
        """The server stored (or set aside) these reports."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE reports SET acked = 1 WHERE report_id = ?", [(i,) for i in report_ids])
            self._db.execute("COMMIT")

    def pending(self) -> int:
        """Reports not acknowledged yet."""
        with self._lock:
            n: int = self._db.execute("SELECT count(*) FROM reports WHERE acked = 0").fetchone()[0]
        return n

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
