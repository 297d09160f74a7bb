"""Face embeddings sealed at rest in PostgreSQL: AES-256-GCM under the photo key (never in the database).

`registrations.encoding_sealed` and `watchlist_entries.encoding_sealed` (sql/0023) hold each
embedding (the model's dim little-endian float64) sealed under the photo key of
command/photo_seal.py (a 32-byte file, 0600, in the key directory): a dump, or a role that can
SELECT the tables, reads no face. Every reader opens them in the server or CLI process; gates
receive the embeddings over their authenticated link and seal them under their own list key.

Sealed format: b"EGF1" | key fingerprint (8 bytes, as photo_seal) | nonce (12) | ciphertext
with its 16-byte tag. The associated data is "face:<row>:<model id>" ("face:registration:<id>:
sface-…"), so a sealed embedding copied to another row, or relabelled with another model,
does not open, and a sealed photo (other magic, other associated data) never opens as a face.

Rows written in clear before sql/0023 are read as before until converted: `seal_clear_rows`
seals them in batches, each its own transaction (resumable; run at server start and by
`eventguard db seal-encodings`). A key that did not seal the stored rows is refused at start
in one line (`check_key`), not discovered row by row.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from command.errors import FaceSealError
from command.photo_seal import (
    FINGERPRINT_BYTES,
    NONCE_BYTES,
    fingerprint,
    registration_owner,
    watch_owner,
)

MAGIC = b"EGF1"  # 4 bytes: the SQL of _TABLES reads the fingerprint at 5..12
_HEAD = len(MAGIC) + FINGERPRINT_BYTES + NONCE_BYTES
Vector = npt.NDArray[np.float64]


def _ad(owner: str, model_id: str) -> bytes:
    return f"face:{owner}:{model_id}".encode()


def seal(key: bytes, embedding: Any, owner: str, model_id: str) -> bytes:
    """The embedding sealed for the row named by `owner` and the model that made it."""
    data = np.asarray(embedding, dtype="<f8").reshape(-1).tobytes()
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + fingerprint(key) + nonce + AESGCM(key).encrypt(nonce, data, _ad(owner, model_id))


def unseal(key: bytes, sealed: bytes, owner: str, model_id: str) -> Vector:
    """The embedding; FaceSealError if sealed under another key, for another row or model, or damaged."""
    sealed = bytes(sealed)
    if len(sealed) < _HEAD + 16 + 8 or not sealed.startswith(MAGIC):
        raise FaceSealError(f"{owner}: not a sealed face embedding")
    if sealed[len(MAGIC):len(MAGIC) + FINGERPRINT_BYTES] != fingerprint(key):
        raise FaceSealError(f"{owner}: face embedding sealed under another key")
    try:
        data = AESGCM(key).decrypt(sealed[len(MAGIC) + FINGERPRINT_BYTES:_HEAD], sealed[_HEAD:], _ad(owner, model_id))
    except InvalidTag as err:
        raise FaceSealError(f"{owner}: sealed face embedding damaged, or not this row's or model's") from err
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


def stored(key: bytes | None, clear: Any, sealed: bytes | None, owner: str, model_id: str) -> Vector | None:
    """A row's embedding whichever way it is stored (sealed, or clear until converted); None if erased."""
    if sealed is not None:
        if key is None:
            raise FaceSealError(f"{owner}: the face embedding is sealed and no photo key was given")
        return unseal(key, sealed, owner, model_id)
    if clear is None:
        return None
    if isinstance(clear, bytes | bytearray | memoryview):  # watchlist_entries: float64 LE bytes
        return np.frombuffer(bytes(clear), dtype="<f8").astype(np.float64)
    return np.asarray(clear, dtype=np.float64)  # registrations: float8[]


def registration_face(key: bytes | None, row: Any, id_col: str = "registration_id") -> Vector | None:
    """A registrations row's embedding (the row has encoding, encoding_sealed, model_id and its id)."""
    return stored(key, row["encoding"], row["encoding_sealed"], registration_owner(row[id_col]), row["model_id"])


def watch_face(key: bytes | None, row: Any, id_col: str = "id") -> Vector | None:
    """A watchlist_entries row's embedding (as registration_face)."""
    return stored(key, row["encoding"], row["encoding_sealed"], watch_owner(row[id_col]), row["model_id"])


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    owner: Callable[[str], str]
    clear: Callable[[Any], Vector]
    count: str  # rows still clear
    lock: str  # a batch of clear rows, locked: id, model_id, encoding
    update: str  # $1 ids, $2 sealed embeddings
    other_key: str  # a sealed row's key fingerprint (bytes 5..12: after MAGIC) that is not $1


_TABLES = (
    _Table("registrations", registration_owner, lambda v: np.asarray(v, dtype=np.float64),
           "SELECT count(*) FROM registrations WHERE encoding IS NOT NULL",
           "SELECT registration_id AS id, model_id, encoding FROM registrations WHERE encoding IS NOT NULL"
           " ORDER BY registration_id LIMIT $1 FOR UPDATE SKIP LOCKED",
           "UPDATE registrations AS x SET encoding = NULL, encoding_sealed = s.sealed"
           " FROM unnest($1::text[], $2::bytea[]) AS s(id, sealed) WHERE x.registration_id = s.id",
           "SELECT substring(encoding_sealed FROM 5 FOR 8) FROM registrations WHERE encoding_sealed IS NOT NULL"
           " AND substring(encoding_sealed FROM 5 FOR 8) <> $1 LIMIT 1"),
    _Table("watchlist_entries", watch_owner, lambda v: np.frombuffer(bytes(v), dtype="<f8"),
           "SELECT count(*) FROM watchlist_entries WHERE encoding IS NOT NULL",
           "SELECT id, model_id, encoding FROM watchlist_entries WHERE encoding IS NOT NULL"
           " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
           "UPDATE watchlist_entries AS x SET encoding = NULL, encoding_sealed = s.sealed"
           " FROM unnest($1::text[], $2::bytea[]) AS s(id, sealed) WHERE x.id = s.id",
           "SELECT substring(encoding_sealed FROM 5 FOR 8) FROM watchlist_entries WHERE encoding_sealed IS NOT NULL"
           " AND substring(encoding_sealed FROM 5 FOR 8) <> $1 LIMIT 1"),
)


async def clear_rows(conn: asyncpg.Connection) -> dict[str, int]:
    """How many rows of each table still hold a clear embedding."""
    return {t.name: int(await conn.fetchval(t.count)) for t in _TABLES}


async def seal_clear_rows(conn: asyncpg.Connection, key: bytes, *, batch: int = 500,
                          progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Seal every clear embedding, `batch` rows per transaction (an interrupted run resumes where
    it stopped: a batch is whole or not at all); rows sealed per table."""
    done: dict[str, int] = {}
    for t in _TABLES:
        done[t.name] = 0
        while True:
            async with conn.transaction():
                rows = await conn.fetch(t.lock, batch)
                if not rows:
                    break
                sealed = [seal(key, t.clear(r["encoding"]), t.owner(r["id"]), r["model_id"]) for r in rows]
                await conn.execute(t.update, [r["id"] for r in rows], sealed)
            done[t.name] += len(rows)
            if progress is not None:
                progress(t.name, done[t.name])
    return done


async def check_key(conn: asyncpg.Connection, key: bytes, key_name: str) -> None:
    """FaceSealError (one line) if stored embeddings were sealed under another key than `key`."""
    fp = fingerprint(key)
    for t in _TABLES:
        other = await conn.fetchval(t.other_key, fp)
        if other is not None:
            raise FaceSealError(
                f"face embeddings in {t.name} were sealed under another key (id {bytes(other).hex()}) than"
                f" {key_name} (id {fp.hex()}): restore the photo key that sealed them")
