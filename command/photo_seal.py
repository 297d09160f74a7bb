"""Enrolment photos sealed at rest: AES-256-GCM under a key file that never enters the database.

Photos of registrants and watchlist entries are kept only so that a change of face model can
re-enrol them (`eventguard faces reenrol`). The database holds the sealed bytes; the key is a
32-byte file, mode 0600, in the key directory beside the signing keys and the ID-number
secret (never overwritten once created). A database dump alone reveals no photo.

Sealed format: b"EGP1" | key fingerprint (8 bytes, SHA-256 of the key) | nonce (12 bytes,
random) | ciphertext with its 16-byte tag. The associated data names the row the photo
belongs to ("registration:<id>", "watchlist_entry:<id>"), so a sealed photo copied to
another row does not open. A wrong key is told apart from damage by the fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from command.errors import PhotoSealError
from eventguard.errors import ConfigError

MAGIC = b"EGP1"
KEY_BYTES = 32
NONCE_BYTES = 12
FINGERPRINT_BYTES = 8


def key_path(root: Path | None = None) -> Path:
    """Where the photo key lives (0600, in the key directory)."""
    from eventguard.settings import data_dir

    return (root or data_dir() / "keys") / "photos.aes256"


def load_key(path: Path, *, create: bool = True) -> bytes:
    """Read the photo key, creating a random one (0600, never overwritten) if absent."""
    from command.signing_keys import write_private_key

    if not path.exists():
        if not create:
            raise ConfigError(f"photo key {path} is missing")
        try:
            write_private_key(path, secrets.token_bytes(KEY_BYTES))
        except FileExistsError:
            pass  # another process created it first: use theirs
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; chmod 600 it")
    raw = path.read_bytes()
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{path} is not a {KEY_BYTES}-byte key")
    return raw


class KeyFile:
    """The photo key of a key directory, read (or created) on first use, then kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def get(self) -> bytes:
        """The key (blocking file I/O the first time: call it from a thread)."""
        if self._key is None:
            self._key = load_key(self.path)
        return self._key


def fingerprint(key: bytes) -> bytes:
    """The first 8 bytes of the key's SHA-256 (stored with each sealed photo)."""
    return hashlib.sha256(key).digest()[:FINGERPRINT_BYTES]


def seal(key: bytes, photo: bytes, owner: str) -> bytes:
    """The photo sealed for the row named by `owner` (e.g. "registration:<id>")."""
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + fingerprint(key) + nonce + AESGCM(key).encrypt(nonce, photo, owner.encode())


def unseal(key: bytes, sealed: bytes, owner: str) -> bytes:
    """The photo; PhotoSealError if it was sealed under another key, for another row, or damaged."""
    head = len(MAGIC) + FINGERPRINT_BYTES + NONCE_BYTES
    if len(sealed) < head + 16 or not sealed.startswith(MAGIC):
        raise PhotoSealError(f"{owner}: not a sealed photo")
    if sealed[len(MAGIC):len(MAGIC) + FINGERPRINT_BYTES] != fingerprint(key):
        raise PhotoSealError(f"{owner}: photo sealed under another key")
    nonce = sealed[len(MAGIC) + FINGERPRINT_BYTES:head]
    try:
        return AESGCM(key).decrypt(nonce, sealed[head:], owner.encode())
    except InvalidTag as err:
        raise PhotoSealError(f"{owner}: sealed photo damaged or not this row's") from err


def registration_owner(registration_id: str) -> str:
    return f"registration:{registration_id}"


def watch_owner(entry_id: str) -> str:
    return f"watchlist_entry:{entry_id}"
