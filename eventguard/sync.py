"""Incremental list sync to gates, read side: what changed after a version, as ListSync chunks.

Versions come from sync_version_seq (see sql/0002_registrations.sql for why writers hold a
shared advisory lock while numbering). `changes` takes that lock exclusively for an instant
to read a watermark W: every number <= W then belongs to a committed row, so a gate that
is told "you are at W" can never miss a change numbered below it.

What a gate gets: revoked ticket ids, registered holders' encodings (added, removed) and
every public key of the event. Chunks are ordered by version and each chunk's `version`
is a safe resume point; the last one carries W.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from eventguard.wire import MAX_MESSAGE_BYTES, HolderFace, ListSync, PublicKey

CHANNEL = "eventguard_sync"  # pg_notify channel; the payload is the event id
_LOCK = (1162301252, 2)  # same pair as sql/0002: ('EGRD', sync)
CHUNK_BYTES = MAX_MESSAGE_BYTES // 2  # JSON size budget per message (base64 included)
_HOLDER_BYTES = 1500  # one HolderFace in JSON: 1,368 base64 chars + id + punctuation
_ID_BYTES = 40


@dataclass(frozen=True, slots=True)
class Change:
    """One numbered change for gates."""

    version: int
    kind: str  # "revoked" | "holder_added" | "holder_removed"
    ref: str  # ticket id or registration id
    encoding: bytes = b""


def encoding_bytes(values: Sequence[float]) -> bytes:
    """128 floats as little-endian float64 bytes (what HolderFace carries)."""
    return np.asarray(values, dtype="<f8").tobytes()


def chunk(event_id: str, since: int, watermark: int, keys: tuple[PublicKey, ...],
          changes: Sequence[Change], *, full: bool, budget: int = CHUNK_BYTES) -> list[ListSync]:
    """Pure: pack version-ordered changes into ListSync messages under a size budget each."""
    out: list[ListSync] = []
    group: list[Change] = []
    size = 0
    prev = since

    def flush(version: int, more: bool) -> None:
        nonlocal prev
        out.append(ListSync(
            event_id=event_id, version=version, since_version=prev, keys=keys,
            revoked=tuple(c.ref for c in group if c.kind == "revoked"),
            holders_added=tuple(HolderFace(registration_id=c.ref, encoding=c.encoding)
                                for c in group if c.kind == "holder_added"),
            holders_removed=tuple(c.ref for c in group if c.kind == "holder_removed"),
            full=full and not out, more=more))
        prev = version

    for c in changes:
        cost = _HOLDER_BYTES if c.kind == "holder_added" else _ID_BYTES
        if group and size + cost > budget:
            flush(group[-1].version, True)
            group, size = [], 0
        group.append(c)
        size += cost
    flush(watermark, False)
    return out


async def watermark(conn: asyncpg.Connection) -> int:
    """The highest version whose change is committed (waits out writers that are numbering)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *_LOCK)
        row = await conn.fetchrow("SELECT last_value, is_called FROM sync_version_seq")
    assert row is not None
    return int(row["last_value"]) if row["is_called"] else 0


async def keys(conn: asyncpg.Connection, event_id: str) -> tuple[PublicKey, ...]:
    """Every public key of the event."""
    rows = await conn.fetch("SELECT key_id, public_key FROM event_keys WHERE event_id = $1 ORDER BY key_id",
                            event_id)
    return tuple(PublicKey(key_id=r["key_id"], public_key=bytes(r["public_key"])) for r in rows)


async def changes(conn: asyncpg.Connection, event_id: str, since: int, *,
                  known_keys: tuple[PublicKey, ...] | None = None,
                  budget: int = CHUNK_BYTES) -> list[ListSync]:
    """Messages that bring a gate at `since` up to date; [] if nothing changed (keys included).

    A gate at 0, or ahead of the server (a rebuilt database), gets a full sync instead.
    """
    w = await watermark(conn)  # its transaction is over: the reads below see every row <= w
    pub = await keys(conn, event_id)
    full = since <= 0 or since > w
    if full:
        since = 0
    if not full and since == w and pub == known_keys:
        return []
    rows = await conn.fetch(
        "SELECT sync_version AS v, 'revoked' AS kind, ticket_id AS ref, NULL::float8[] AS enc"
        " FROM tickets WHERE event_id = $1 AND revoked_at IS NOT NULL"
        "   AND sync_version > $2 AND sync_version <= $3"
        " UNION ALL"
        " SELECT sync_version, CASE WHEN removed_at IS NULL THEN 'holder_added' ELSE 'holder_removed' END,"
        "        registration_id, CASE WHEN removed_at IS NULL THEN encoding END"
        " FROM registrations WHERE event_id = $1 AND sync_version > $2 AND sync_version <= $3"
        "   AND ($4 = false OR removed_at IS NULL)"
        " ORDER BY 1", event_id, since, w, full)
    found = [Change(r["v"], r["kind"], r["ref"], encoding_bytes(r["enc"]) if r["enc"] is not None else b"")
             for r in rows]
    return chunk(event_id, since, w, pub, found, full=full, budget=budget)
