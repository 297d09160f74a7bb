"""The gate's synced lists on disk: public keys, revoked tickets, holders' faces, watchlist entries,
and venue-wide presence (who is inside, as the server last told).

A sibling SQLite file of the journal (`<journal>.lists.sqlite`). Each ListSync from the server
is applied in one transaction together with its version, so a gate restarted with no network
verifies tickets and faces exactly as it did before; on reconnect it asks for changes after
that version only. Blocking; the service calls it through its journal thread.

Faces are stored with the id of the model that made them, whatever the gate's engine: the
file mirrors the server. Loading and applying keep only the faces of the gate's own model
(`FaceFilter`); the others are counted as ignored, never compared. A file written before
faces carried a model id holds dlib's (the only model then) and is upgraded in place.

Holder cards (issue 15): the name, the small registered photo and the ID-number hash synced with a
holder's face are stored sealed (AES-256-GCM, associated data = the registration id) under the
gate's own key, a 0600 file beside the lists (`<lists>.key`, gate/private_files.py), as is the
ID-number HMAC key: neither a photo nor a name is ever in clear on the gate's disk. They are read
one holder at a time (`card`), when a scan needs them, not kept in memory.

Face embeddings are kept sealed (AES-256-GCM, bound to their table, id and model) under a key
in a separate file (`<lists>.key` unless given, 0600 in a 0700 folder; put it on other storage
with `key_path`): a copy of the list file or a backup of it holds no usable biometrics. Rows
written in clear by an older gate are sealed on open. A face that cannot be opened (the key
was lost or replaced) is dropped and the stored version reset, so the gate asks the server for
everything again.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eventguard.codes import WatchSeverity
from eventguard.presence import Stay
from eventguard.wire import HolderFace, ListSync, WatchFace
from gate.private_files import open_private, private_key
from vision.engine import DLIB_MODEL_ID, EngineSpec
from vision.index import WatchEntry
from vision.screen import index_vector

log = logging.getLogger(__name__)

SEALED = b"EGF1"  # a sealed face: magic, 12-byte nonce, AES-GCM ciphertext and tag
KEY_BYTES = 32


def seal_face(key: bytes, raw: bytes, owner: str) -> bytes:
    """An embedding sealed for its row (`owner`: table, id and model)."""
    nonce = os.urandom(12)
    return SEALED + nonce + AESGCM(key).encrypt(nonce, raw, owner.encode())


def open_face(key: bytes, blob: bytes, owner: str) -> bytes | None:
    """The embedding of a sealed (or older clear) blob; None if it cannot be opened."""
    if not blob.startswith(SEALED):
        return blob
    try:
        return AESGCM(key).decrypt(blob[4:16], blob[16:], owner.encode())
    except InvalidTag:
        return None


def _owner(table: str, row_id: str, model_id: str) -> str:
    return f"{table}:{row_id}:{model_id}"


_CLEAR_ROWS = (  # (table, read its faces, seal one)
    ("holders", "SELECT registration_id, model_id, encoding FROM holders",
     "UPDATE holders SET encoding = ? WHERE registration_id = ?"),
    ("watch", "SELECT entry_id, model_id, encoding FROM watch", "UPDATE watch SET encoding = ? WHERE entry_id = ?"),
)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (key_id INTEGER PRIMARY KEY, public_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (ticket_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS holders (registration_id TEXT PRIMARY KEY, encoding BLOB NOT NULL,
                                    model_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watch (entry_id TEXT PRIMARY KEY, list_id TEXT NOT NULL,
                                  severity TEXT NOT NULL, encoding BLOB NOT NULL,
                                  model_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS presence (ticket_id TEXT PRIMARY KEY, inside INTEGER NOT NULL,
                                     gate_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stewards (steward TEXT PRIMARY KEY, pin_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cards (registration_id TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS reissued (ticket_id TEXT PRIMARY KEY);  -- revoked because reissued
CREATE TABLE IF NOT EXISTS held (registration_id TEXT PRIMARY KEY);
"""


class HolderCard(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate knows of a holder besides the face: for the steward and 人证票合一."""

    name: str = ""
    photo: bytes = b""  # small JPEG; b"": none synced
    id_hash: bytes = b""  # HMAC of the ID number (eventguard.identity.keyed_hash); b"": none


_card_dec = msgspec.msgpack.Decoder(HolderCard)
_NONCE = 12


def seal(key: bytes, data: bytes, owner: str) -> bytes:
    """nonce | AES-256-GCM(data) bound to `owner` (the row it belongs to)."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, owner.encode())


def unseal(key: bytes, sealed: bytes, owner: str) -> bytes | None:
    """The data, or None if it was sealed under another key, for another row, or damaged."""
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], owner.encode())
    except (InvalidTag, ValueError):
        return None


@dataclass
class Lists:
    """What the file holds, for one engine: faces of other models are only counted."""

    version: int = 0
    event_id: str = ""
    keys: dict[int, bytes] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    holders: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    watch: list[WatchEntry] = field(default_factory=list)
    presence: dict[str, Stay] = field(default_factory=dict)
    entry_open: bool = True
    evacuating: bool = False  # issue 20: kept across restarts like entry_open
    evacuation_note: str = ""
    peer_key: bytes = b""
    stewards: dict[str, bytes] = field(default_factory=dict)  # steward -> PIN hash (eventguard.steward)
    id_key: bytes = b""  # the ID-number HMAC key (opened from its sealed copy)
    reissued: set[str] = field(default_factory=set)  # of revoked: replaced by a new ticket
    held: set[str] = field(default_factory=set)  # registrations held for screening review
    ignored_holders: int = 0  # another model's, or malformed
    ignored_watch: int = 0


def decode_encoding(raw: bytes, dim: int = 128) -> npt.NDArray[np.float64] | None:
    """`dim` little-endian float64 -> array; None if malformed or not finite."""
    if len(raw) != dim * 8:
        return None
    arr = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    return arr if bool(np.isfinite(arr).all()) else None


@dataclass(frozen=True, slots=True)
class FaceFilter:
    """Which synced faces a gate can use: its engine's model and dimension (pure)."""

    spec: EngineSpec

    def holder(self, model_id: str, raw: bytes) -> npt.NDArray[np.float64] | None:
        """The embedding if it is this engine's, else None (ignored, never compared)."""
        if model_id != self.spec.model_id:
            return None
        return decode_encoding(raw, self.spec.dim)

    def watch(self, entry_id: str, list_id: str, severity: str, model_id: str,
              raw: bytes) -> WatchEntry | None:
        """An index entry (vision.screen.index_vector form) if this engine's and well formed."""
        enc = self.holder(model_id, raw)
        try:
            sev = WatchSeverity(severity)
        except ValueError:
            return None
        return WatchEntry(entry_id, list_id, sev, index_vector(self.spec, enc)) if enc is not None else None

    def holders(self, faces: tuple[HolderFace, ...]) -> tuple[dict[str, npt.NDArray[np.float64]], list[str]]:
        """The usable holders of a sync message, and the ids of those ignored."""
        usable: dict[str, npt.NDArray[np.float64]] = {}
        ignored: list[str] = []
        for h in faces:
            enc = self.holder(h.model_id, h.encoding)
            if enc is None:
                ignored.append(h.registration_id)
            else:
                usable[h.registration_id] = enc
        return usable, ignored

    def watch_entries(self, faces: tuple[WatchFace, ...]) -> tuple[list[WatchEntry], list[str]]:
        """The usable entries of a sync message, and the ids of those ignored."""
        usable: list[WatchEntry] = []
        ignored: list[str] = []
        for f in faces:
            e = self.watch(f.entry_id, f.list_id, f.severity, f.model_id, f.encoding)
            if e is None:
                ignored.append(f.entry_id)
            else:
                usable.append(e)
        return usable, ignored


def applies(current_version: int, msg: ListSync) -> bool:
    """Whether a sync message continues from what the gate has (pure)."""
    return msg.full or msg.since_version <= current_version <= msg.version


class ListCache:
    """Persisted lists of one gate."""

    def __init__(self, path: str | Path, key_path: str | Path | None = None) -> None:
        self.path = Path(path)
        self.key_path = Path(key_path) if key_path is not None else self.path.with_name(self.path.name + ".key")
        self._key = private_key(self.key_path)  # seals faces, holder cards and the ID key (0600)
        self._db = open_private(self.path)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._upgrade()
        self._db.executescript(_SCHEMA)
        self._seal_clear_rows()

    def _seal_clear_rows(self) -> None:
        """Seal the faces an older gate wrote in clear."""
        with self._lock:
            for table, select, update in _CLEAR_ROWS:
                rows = [(seal_face(self._key, bytes(raw), _owner(table, rid, model)), rid)
                        for rid, model, raw in self._db.execute(select) if not bytes(raw).startswith(SEALED)]
                if rows:
                    self._db.executemany(update, rows)

    def _upgrade(self) -> None:
        """Give a file written before faces carried a model id its model_id columns (dlib's)."""
        for table in ("holders", "watch"):
            cols = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
            if cols and "model_id" not in cols:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN model_id TEXT NOT NULL "
                                 f"DEFAULT '{DLIB_MODEL_ID}'")

    def load(self, faces: FaceFilter) -> Lists:
        """Everything stored; of the faces, only the engine's own (the rest are counted)."""
        with self._lock:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            keys = {int(k): bytes(v) for k, v in self._db.execute("SELECT key_id, public_key FROM keys")}
            revoked = {r[0] for r in self._db.execute("SELECT ticket_id FROM revoked")}
            reissued = {r[0] for r in self._db.execute("SELECT ticket_id FROM reissued")}
            held = {r[0] for r in self._db.execute("SELECT registration_id FROM held")}
            rows = self._db.execute("SELECT registration_id, model_id, encoding FROM holders").fetchall()
            watch_rows = self._db.execute(
                "SELECT entry_id, list_id, severity, model_id, encoding FROM watch").fetchall()
            presence = {t: Stay(bool(i), g, float(a)) for t, i, g, a in
                        self._db.execute("SELECT ticket_id, inside, gate_id, at FROM presence")}
            stewards = {n: bytes(h) for n, h in self._db.execute("SELECT steward, pin_hash FROM stewards")}
        id_key = unseal(self._key, bytes.fromhex(meta.get("id_key", "")), "id_key") if "id_key" in meta else None
        holders = {}
        lost = 0  # sealed under another key: dropped, and everything asked for again
        for rid, model, raw in rows:
            clear = open_face(self._key, bytes(raw), _owner("holders", rid, model))
            lost += clear is None
            enc = faces.holder(model, clear) if clear is not None else None
            if enc is not None:
                holders[rid] = enc
        watch = []
        for eid, lid, sev, model, raw in watch_rows:
            clear = open_face(self._key, bytes(raw), _owner("watch", eid, model))
            lost += clear is None
            entry = faces.watch(eid, lid, sev, model, clear) if clear is not None else None
            if entry is not None:
                watch.append(entry)
        if lost:
            log.warning("%s: %d faces cannot be opened with %s; the gate will ask for every list again",
                        self.path, lost, self.key_path)
            meta["version"] = "0"
        return Lists(int(meta.get("version", "0")), meta.get("event_id", ""), keys, revoked, holders, watch,
                     presence, entry_open=meta.get("entry_open", "1") == "1",
                     evacuating=meta.get("evacuating", "0") == "1", evacuation_note=meta.get("evacuation_note", ""),
                     peer_key=bytes.fromhex(meta.get("peer_key", "")), stewards=stewards, id_key=id_key or b"",
                     reissued=reissued,
                     held=held,
                     ignored_holders=len(rows) - len(holders),
                     ignored_watch=len(watch_rows) - len(watch))

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
                    self._db.execute("DELETE FROM cards")
                    self._db.execute("DELETE FROM reissued")
                    self._db.execute("DELETE FROM held")
                self._db.execute("DELETE FROM keys")
                self._db.executemany("INSERT INTO keys VALUES (?, ?)",
                                     [(k.key_id, k.public_key) for k in msg.keys])
                self._db.executemany("INSERT OR IGNORE INTO revoked VALUES (?)", [(t,) for t in msg.revoked])
                self._db.executemany("INSERT OR IGNORE INTO reissued VALUES (?)", [(t,) for t in msg.reissued])
                self._db.executemany("DELETE FROM holders WHERE registration_id = ?",
                                     [(r,) for r in msg.holders_removed])
                self._db.executemany("INSERT OR REPLACE INTO holders (registration_id, encoding, model_id)"
                                     " VALUES (?, ?, ?)",
                                     [(h.registration_id,
                                       seal_face(self._key, h.encoding, _owner("holders", h.registration_id, h.model_id)),
                                       h.model_id) for h in msg.holders_added])
                self._db.executemany("DELETE FROM cards WHERE registration_id = ?",
                                     [(r,) for r in (*msg.holders_removed,
                                                     *(h.registration_id for h in msg.holders_added))])
                self._db.executemany("INSERT INTO cards VALUES (?, ?)", [
                    (h.registration_id, seal(self._key, msgspec.msgpack.encode(
                        HolderCard(name=h.name, photo=h.photo, id_hash=h.id_hash)), h.registration_id))
                    for h in msg.holders_added if h.name or h.photo or h.id_hash])
                self._db.executemany("DELETE FROM held WHERE registration_id = ?",
                                     [(r,) for r in (*msg.holders_removed,
                                                     *(h.registration_id for h in msg.holders_added))])
                self._db.executemany("INSERT OR IGNORE INTO held VALUES (?)", [(r,) for r in msg.held])
                self._db.executemany("DELETE FROM watch WHERE entry_id = ?", [(e,) for e in msg.watch_removed])
                self._db.executemany("INSERT OR REPLACE INTO watch (entry_id, list_id, severity, encoding,"
                                     " model_id) VALUES (?, ?, ?, ?, ?)",
                                     [(w.entry_id, w.list_id, w.severity,
                                       seal_face(self._key, w.encoding, _owner("watch", w.entry_id, w.model_id)),
                                       w.model_id) for w in msg.watch_added])
                self._db.executemany("INSERT OR REPLACE INTO presence VALUES (?, ?, ?, ?)",
                                     [(c.ticket_id, int(c.inside), c.gate_id, c.at) for c in msg.presence])
                if msg.stewards is not None:  # always whole: replace
                    self._db.execute("DELETE FROM stewards")
                    self._db.executemany("INSERT OR REPLACE INTO stewards VALUES (?, ?)",
                                         [(p.steward, p.pin_hash) for p in msg.stewards])
                meta = [("version", str(msg.version)), ("event_id", msg.event_id)]
                if msg.entry_open is not None or msg.full:
                    meta.append(("entry_open", "0" if msg.entry_open is False else "1"))
                if msg.evacuating is not None or msg.full:  # issue 20
                    meta.append(("evacuating", "1" if msg.evacuating else "0"))
                    meta.append(("evacuation_note", msg.evacuation_note if msg.evacuating else ""))
                if msg.peer_key:
                    meta.append(("peer_key", msg.peer_key.hex()))
                if msg.id_key:
                    meta.append(("id_key", seal(self._key, msg.id_key, "id_key").hex()))
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def card(self, registration_id: str) -> HolderCard | None:
        """A holder's card, opened; None if none was synced (or it does not open: logged by the caller)."""
        with self._lock:
            row = self._db.execute("SELECT sealed FROM cards WHERE registration_id = ?",
                                   (registration_id,)).fetchone()
        raw = unseal(self._key, bytes(row[0]), registration_id) if row is not None else None
        return _card_dec.decode(raw) if raw is not None else None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
