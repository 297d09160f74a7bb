"""The gate's synced lists on disk: public keys, revoked tickets, holders' faces, watchlist entries,
and venue-wide presence (who is inside, as the server last told).

A sibling SQLite file of the journal (`<journal>.lists.sqlite`). Each ListSync from the server
is applied in one transaction together with its version, so a gate restarted with no network
verifies tickets and faces exactly as it did before; on reconnect it asks for changes after
that version only. Blocking; the service calls it through its journal thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from eventguard.codes import WatchSeverity
from eventguard.presence import Stay
from eventguard.wire import ListSync, WatchFace
from gate.private_files import open_private
from vision.index import WatchEntry

ENCODING_BYTES = 128 * 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (key_id INTEGER PRIMARY KEY, public_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (ticket_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS holders (registration_id TEXT PRIMARY KEY, encoding BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS watch (entry_id TEXT PRIMARY KEY, list_id TEXT NOT NULL,
                                  severity TEXT NOT NULL, encoding BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS presence (ticket_id TEXT PRIMARY KEY, inside INTEGER NOT NULL,
                                     gate_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Lists:
    """What the file holds."""

    version: int = 0
    event_id: str = ""
    keys: dict[int, bytes] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    holders: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    watch: list[WatchEntry] = field(default_factory=list)
    presence: dict[str, Stay] = field(default_factory=dict)
    entry_open: bool = True
    peer_key: bytes = b""


def decode_encoding(raw: bytes) -> npt.NDArray[np.float64] | None:
    """128 little-endian float64 -> array; None if malformed or not finite."""
    if len(raw) != ENCODING_BYTES:
        return None
    arr = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    return arr if bool(np.isfinite(arr).all()) else None


def watch_entry(entry_id: str, list_id: str, severity: str, raw: bytes) -> WatchEntry | None:
    """A watchlist entry from its wire/stored form; None if the encoding or severity is malformed."""
    enc = decode_encoding(raw)
    try:
        sev = WatchSeverity(severity)
    except ValueError:
        return None
    return WatchEntry(entry_id, list_id, sev, enc) if enc is not None else None


def watch_entries(faces: tuple[WatchFace, ...]) -> list[WatchEntry]:
    """The well-formed entries of a sync message (malformed ones are dropped)."""
    out = []
    for f in faces:
        e = watch_entry(f.entry_id, f.list_id, f.severity, f.encoding)
        if e is not None:
            out.append(e)
    return out


def applies(current_version: int, msg: ListSync) -> bool:
    """Whether a sync message continues from what the gate has (pure)."""
    return msg.full or msg.since_version <= current_version <= msg.version


class ListCache:
    """Persisted lists of one gate."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_private(self.path)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def load(self) -> Lists:
        """Everything stored (malformed encodings are skipped)."""
        with self._lock:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            keys = {int(k): bytes(v) for k, v in self._db.execute("SELECT key_id, public_key FROM keys")}
            revoked = {r[0] for r in self._db.execute("SELECT ticket_id FROM revoked")}
            rows = self._db.execute("SELECT registration_id, encoding FROM holders").fetchall()
            watch_rows = self._db.execute("SELECT entry_id, list_id, severity, encoding FROM watch").fetchall()
            presence = {t: Stay(bool(i), g, float(a)) for t, i, g, a in
                        self._db.execute("SELECT ticket_id, inside, gate_id, at FROM presence")}
        holders = {}
        for rid, raw in rows:
            enc = decode_encoding(bytes(raw))
            if enc is not None:
                holders[rid] = enc
        watch = [e for e in (watch_entry(eid, lid, sev, bytes(raw)) for eid, lid, sev, raw in watch_rows)
                 if e is not None]
        return Lists(int(meta.get("version", "0")), meta.get("event_id", ""), keys, revoked, holders, watch,
                     presence, meta.get("entry_open", "1") == "1", bytes.fromhex(meta.get("peer_key", "")))

    def save(self, msg: ListSync) -> None:
        """Apply one sync message durably (full: replace everything)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if msg.full:
                    self._db.execute("DELETE FROM revoked")
                    self._db.execute("DELETE FROM holders")
                    self._db.execute("DELETE FROM watch")
                    self._db.execute("DELETE FROM presence")
                self._db.execute("DELETE FROM keys")
                self._db.executemany("INSERT INTO keys VALUES (?, ?)",
                                     [(k.key_id, k.public_key) for k in msg.keys])
                self._db.executemany("INSERT OR IGNORE INTO revoked VALUES (?)", [(t,) for t in msg.revoked])
                self._db.executemany("DELETE FROM holders WHERE registration_id = ?",
                                     [(r,) for r in msg.holders_removed])
                self._db.executemany("INSERT OR REPLACE INTO holders VALUES (?, ?)",
                                     [(h.registration_id, h.encoding) for h in msg.holders_added])
                self._db.executemany("DELETE FROM watch WHERE entry_id = ?", [(e,) for e in msg.watch_removed])
                self._db.executemany("INSERT OR REPLACE INTO watch VALUES (?, ?, ?, ?)",
                                     [(w.entry_id, w.list_id, w.severity, w.encoding) for w in msg.watch_added])
                self._db.executemany("INSERT OR REPLACE INTO presence VALUES (?, ?, ?, ?)",
                                     [(c.ticket_id, int(c.inside), c.gate_id, c.at) for c in msg.presence])
                meta = [("version", str(msg.version)), ("event_id", msg.event_id)]
                if msg.entry_open is not None or msg.full:
                    meta.append(("entry_open", "0" if msg.entry_open is False else "1"))
                if msg.peer_key:
                    meta.append(("peer_key", msg.peer_key.hex()))
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
