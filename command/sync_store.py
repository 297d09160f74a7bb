"""Incremental list sync to gates, read side: what changed after a version, as ListSync chunks.

Versions come from sync_version_seq (see sql/0002_registrations.sql for why writers hold a
shared advisory lock while numbering). `changes` takes that lock exclusively for an instant
to read a watermark W: every number <= W then belongs to a committed row, so a gate that
is told "you are at W" can never miss a change numbered below it.

What a gate gets: revoked ticket ids, venue-wide presence (every change of the event's presence rows,
sql/0007; a full sync sends every ticket's last state, inside or out), the encodings of the registered holders it may admit
(entrances empty or naming the gate; added, removed — a holder whose entrances stop naming the
gate is removed, see sql/0006), every public key of the event, and the venue-wide watchlist
entries (added with list id, severity, model id and encoding; removed, including the entries of a list
made inactive — see sql/0005). Chunks are ordered by version and each chunk's `version` is a
safe resume point; the last one carries W.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import asyncpg
import numpy as np

from command import face_seal
from command.photo_seal import registration_owner, watch_owner
from eventguard.codes import WatchSeverity
from eventguard.wire import (
    MAX_MESSAGE_BYTES,
    HolderFace,
    ListSync,
    PresenceChange,
    PublicKey,
    StewardPin,
    WatchFace,
)

CHANNEL = "eventguard_sync"  # pg_notify channel; the payload is the event id, or ALL_EVENTS
ALL_EVENTS = "*"  # payload of a venue-wide change (watchlists): wakes the gates of every event
_LOCK = (1162301252, 2)  # same pair as sql/0002: ('EGRD', sync)
CHUNK_BYTES = MAX_MESSAGE_BYTES // 2  # JSON size budget per message (base64 included)
_FACE_BYTES = 200  # a HolderFace or WatchFace in JSON besides its base64 encoding: ids, model id
_PRESENCE_BYTES = 120  # one PresenceChange: ticket id, gate id, flag, time
_ID_BYTES = 40


@dataclass(frozen=True, slots=True)
class Change:
    """One numbered change for gates."""

    version: int
    kind: str  # "revoked" | "reissued" (a revocation by reissue) | "holder_added" | "holder_removed" | "watch_added" | "watch_removed"
    #            | "inside" | "outside" (presence) | "entry" (list_id "open" or "closed")
    ref: str  # ticket id, registration id or watchlist entry id
    encoding: bytes = b""
    model_id: str = ""  # holder_added, watch_added: the model that made the encoding
    list_id: str = ""  # watch_added only; the gate of a presence change
    severity: str = ""  # watch_added only
    at: float = 0.0  # presence changes: gate clock of the change
    name: str = ""  # holder_added: the registration's name
    photo: bytes = b""  # holder_added: small JPEG of the registered photo (command/holder_cards.py)
    id_hash: bytes = b""  # holder_added: the ID number's HMAC
    sealed: bytes = b""  # holder_added, read side only: the sealed photo `photo` is made from


def encoding_bytes(values: Sequence[float] | np.ndarray) -> bytes:
    """An embedding as little-endian float64 bytes (what HolderFace and WatchFace carry)."""
    return np.asarray(values, dtype="<f8").tobytes()


def _cost(c: Change) -> int:
    """Bytes one change adds to a ListSync in JSON (base64 grows the encoding by 4/3)."""
    if c.kind in ("holder_added", "watch_added"):
        b64 = sum((len(b) + 2) // 3 * 4 for b in (c.encoding, c.photo, c.id_hash))
        return _FACE_BYTES + b64 + 6 * len(c.name)  # (a name's \uXXXX escapes at worst)
    if c.kind in ("inside", "outside"):
        return _PRESENCE_BYTES
    return _ID_BYTES


def chunk(event_id: str, since: int, watermark: int, keys: tuple[PublicKey, ...],
          changes: Sequence[Change], *, full: bool, budget: int = CHUNK_BYTES,
          peer_key: bytes = b"", stewards: tuple[StewardPin, ...] | None = None,
          id_key: bytes = b"") -> list[ListSync]:
    """Pure: pack version-ordered changes into ListSync messages under a size budget each."""
    out: list[ListSync] = []
    group: list[Change] = []
    size = 0
    prev = since

    def flush(version: int, more: bool) -> None:
        nonlocal prev
        out.append(ListSync(
            event_id=event_id, version=version, since_version=prev, keys=keys,
            revoked=tuple(c.ref for c in group if c.kind in ("revoked", "reissued")),
            reissued=tuple(c.ref for c in group if c.kind == "reissued"),
            holders_added=tuple(HolderFace(registration_id=c.ref, model_id=c.model_id, encoding=c.encoding,
                                           name=c.name, photo=c.photo, id_hash=c.id_hash)
                                for c in group if c.kind == "holder_added"),
            holders_removed=tuple(c.ref for c in group if c.kind == "holder_removed"),
            held=tuple(c.ref for c in group if c.kind == "held"),
            watch_added=tuple(WatchFace(entry_id=c.ref, list_id=c.list_id, severity=WatchSeverity(c.severity),
                                        model_id=c.model_id, encoding=c.encoding)
                              for c in group if c.kind == "watch_added"),
            watch_removed=tuple(c.ref for c in group if c.kind == "watch_removed"),
            presence=tuple(PresenceChange(ticket_id=c.ref, inside=c.kind == "inside", gate_id=c.list_id,
                                          at=c.at) for c in group if c.kind in ("inside", "outside")),
            entry_open=next((c.list_id == "open" for c in reversed(group) if c.kind == "entry"), None),
            evacuating=next((c.list_id == "on" for c in reversed(group) if c.kind == "evacuation"), None),
            evacuation_note=next((c.name for c in reversed(group) if c.kind == "evacuation" and c.list_id == "on"), ""),
            peer_key=peer_key, stewards=stewards, id_key=id_key,
            full=full and not out, more=more))
        prev = version

    for c in changes:
        cost = _cost(c)
        if group and size + cost > budget:
            flush(group[-1].version, True)
            group, size = [], 0
        group.append(c)
        size += cost
    flush(watermark, False)
    return out


# One statement (one snapshot): an entry's version is its latest change, including its list's.
_CHANGES = """
SELECT sync_version AS v, CASE WHEN revoke_kind = 'reissued' THEN 'reissued' ELSE 'revoked' END AS kind,
       ticket_id AS ref, NULL::float8[] AS enc,
       NULL::bytea AS watch_enc, NULL::text AS list_id, NULL::text AS severity,
       NULL::float8 AS at, NULL::text AS model_id,
       NULL::text AS name, NULL::bytea AS photo_sealed, NULL::bytea AS id_hmac, NULL::bytea AS face_sealed
  FROM tickets WHERE event_id = $1 AND revoked_at IS NOT NULL
   AND sync_version > $2 AND sync_version <= $3
UNION ALL
SELECT sync_version, CASE WHEN admits THEN 'holder_added' ELSE 'holder_removed' END,
       registration_id, CASE WHEN admits THEN encoding END, NULL, NULL, NULL, NULL, model_id,
       CASE WHEN admits THEN name END, CASE WHEN admits THEN photo_sealed END,
       CASE WHEN admits THEN id_hmac END, CASE WHEN admits THEN encoding_sealed END
  FROM (SELECT *, removed_at IS NULL AND NOT screening_hold  -- held for screening review (sql/0016)
                    AND ($5::text IS NULL OR cardinality(entrances) = 0 OR $5::text = ANY(entrances)) AS admits
          FROM registrations WHERE event_id = $1 AND sync_version > $2 AND sync_version <= $3) r
 WHERE $4 = false OR admits
UNION ALL
SELECT sync_version, 'held', registration_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM registrations WHERE event_id = $1 AND screening_hold AND removed_at IS NULL
   AND sync_version > $2 AND sync_version <= $3
UNION ALL
SELECT e.sync_version,
       CASE WHEN e.removed_at IS NULL AND w.active THEN 'watch_added' ELSE 'watch_removed' END,
       e.id, NULL, CASE WHEN e.removed_at IS NULL AND w.active THEN e.encoding END,
       e.list_id, w.severity, NULL, e.model_id, NULL, NULL, NULL,
       CASE WHEN e.removed_at IS NULL AND w.active THEN e.encoding_sealed END
  FROM watchlist_entries e JOIN watchlists w ON w.id = e.list_id
 WHERE e.sync_version > $2 AND e.sync_version <= $3
   AND ($4 = false OR (e.removed_at IS NULL AND w.active))
UNION ALL
SELECT sync_version, CASE WHEN inside THEN 'inside' ELSE 'outside' END, ticket_id, NULL, NULL,
       gate_id, NULL, extract(epoch FROM at)::float8, NULL, NULL, NULL, NULL, NULL
  FROM presence WHERE event_id = $1 AND inside IS NOT NULL
   AND sync_version > $2 AND sync_version <= $3
UNION ALL
SELECT sync_version, 'entry', event_id, NULL, NULL, CASE WHEN entry_open THEN 'open' ELSE 'closed' END,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM event_entry WHERE event_id = $1 AND sync_version > $2 AND sync_version <= $3
UNION ALL
SELECT e.sync_version, 'evacuation', e.event_id, NULL, NULL,
       CASE WHEN e.active AND (cardinality(e.zones) = 0 OR $5::text IS NULL
                               OR (SELECT zone_id FROM gates WHERE id = $5::text) = ANY(e.zones))
            THEN 'on' ELSE 'off' END,
       NULL, NULL, NULL, e.note, NULL, NULL, NULL
  FROM event_evacuation e WHERE e.event_id = $1 AND e.sync_version > $2 AND e.sync_version <= $3
ORDER BY 1
"""


async def set_entry(conn: asyncpg.Connection, event_id: str, entry_open: bool, by: str) -> None:
    """Open or close the event's entry (gates learn it through the sync)."""
    await conn.execute(
        "INSERT INTO event_entry (event_id, entry_open, changed_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (event_id) DO UPDATE SET entry_open = EXCLUDED.entry_open,"
        " changed_by = EXCLUDED.changed_by, changed_at = now()", event_id, entry_open, by)


async def entry_open(conn: asyncpg.Connection, event_id: str) -> bool:
    """Whether the event's entry is open (it is until a commander closes it)."""
    v: bool | None = await conn.fetchval("SELECT entry_open FROM event_entry WHERE event_id = $1", event_id)
    return True if v is None else v


async def watermark(conn: asyncpg.Connection) -> int:
    """The highest version whose change is committed (waits out writers that are numbering)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *_LOCK)
        row = await conn.fetchrow("SELECT last_value, is_called FROM sync_version_seq")
    assert row is not None
    return int(row["last_value"]) if row["is_called"] else 0


async def peer_key(conn: asyncpg.Connection, event_id: str) -> bytes:
    """The event's secret for gate peer links (created on first use)."""
    import secrets

    await conn.execute("INSERT INTO event_peer_keys (event_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       event_id, secrets.token_bytes(32))
    key: bytes = await conn.fetchval("SELECT secret FROM event_peer_keys WHERE event_id = $1", event_id)
    return bytes(key)


async def keys(conn: asyncpg.Connection, event_id: str) -> tuple[PublicKey, ...]:
    """Every public key of the event."""
    rows = await conn.fetch("SELECT key_id, public_key FROM event_keys WHERE event_id = $1 ORDER BY key_id",
                            event_id)
    return tuple(PublicKey(key_id=r["key_id"], public_key=bytes(r["public_key"])) for r in rows)


async def changes(conn: asyncpg.Connection, event_id: str, since: int, *, gate_id: str | None = None,
                  known_keys: tuple[PublicKey, ...] | None = None,
                  budget: int = CHUNK_BYTES, photo: Callable[[str, bytes], bytes] | None = None,
                  id_key: bytes = b"", face_key: bytes | None = None) -> list[ListSync]:
    """Messages that bring a gate at `since` up to date; [] if nothing changed (keys included).

    Holders are those `gate_id` may admit (every holder when None: tools, not gates), each with
    the registration's name, ID-number hash and — when `photo` is given (sealed photo -> small
    JPEG, command/holder_cards.py; run in a thread here) — the registered photo. `id_key` (the
    ID-number HMAC key) rides on every message. Embeddings sealed in the database are opened with
    `face_key` (command/face_seal.py, in a thread) and sent as the gate expects them.
    A gate at 0, or ahead of the server (a rebuilt database), gets a full sync instead.
    """
    w = await watermark(conn)  # its transaction is over: the reads below see every row <= w
    pub = await keys(conn, event_id)
    full = since <= 0 or since > w
    if full:
        since = 0
    if not full and since == w and pub == known_keys:
        return []
    rows = await conn.fetch(_CHANGES, event_id, since, w, full, gate_id)
    opened = await asyncio.to_thread(_open_faces, rows, face_key) if any(
        r["face_sealed"] is not None for r in rows) else {}
    found = [Change(r["v"], r["kind"], r["ref"],
                    opened[i] if i in opened
                    else bytes(r["watch_enc"]) if r["watch_enc"] is not None
                    else encoding_bytes(r["enc"]) if r["enc"] is not None else b"",
                    r["model_id"] or "", r["list_id"] or "", r["severity"] or "", r["at"] or 0.0,
                    r["name"] or "", b"", bytes(r["id_hmac"] or b""), bytes(r["photo_sealed"] or b""))
             for i, r in enumerate(rows)]
    if photo is not None and any(c.sealed for c in found):
        found = await asyncio.to_thread(_with_photos, found, photo)
    stewards = await steward_pins(conn, event_id, gate_id) if gate_id is not None else None
    return chunk(event_id, since, w, pub, found, full=full, budget=budget, peer_key=await peer_key(conn, event_id),
                 stewards=stewards, id_key=id_key)


def _open_faces(rows: Sequence[asyncpg.Record], face_key: bytes | None) -> dict[int, bytes]:
    """The sealed embeddings among `rows`, opened (blocking: AES-GCM per row), by row index."""
    out: dict[int, bytes] = {}
    for i, r in enumerate(rows):
        if r["face_sealed"] is not None:
            owner = registration_owner(r["ref"]) if r["kind"] == "holder_added" else watch_owner(r["ref"])
            vec = face_seal.stored(face_key, None, r["face_sealed"], owner, r["model_id"])
            out[i] = encoding_bytes(vec) if vec is not None else b""
    return out


def _with_photos(found: list[Change], photo: Callable[[str, bytes], bytes]) -> list[Change]:
    """Each added holder with its small registered photo made from the sealed one (blocking)."""
    return [replace(c, photo=photo(c.ref, c.sealed), sealed=b"") if c.sealed else c for c in found]


async def steward_pins(conn: asyncpg.Connection, event_id: str, gate_id: str) -> tuple[StewardPin, ...]:
    """Every steward PIN hash of one gate (sent whole with every sync message to that gate)."""
    rows = await conn.fetch("SELECT steward, pin_hash FROM steward_pins WHERE event_id = $1 AND gate_id = $2"
                            " ORDER BY steward", event_id, gate_id)
    return tuple(StewardPin(steward=r["steward"], pin_hash=bytes(r["pin_hash"])) for r in rows)
