"""Event signing keys on disk: where the private key lives (0600), writing and reading it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventguard import tickets
from eventguard.errors import ConfigError
from eventguard.settings import data_dir


def key_path(event_id: str, public_key: bytes, root: Path | None = None) -> Path:
    """Where the private signing key of an event lives (0600). The name carries the public
    key's fingerprint, so keys of different databases for the same event never collide."""
    return (root or data_dir() / "keys") / f"{event_id}.{hashlib.sha256(public_key).hexdigest()[:16]}.ed25519"


def write_private_key(path: Path, raw: bytes) -> None:
    """Create a private key file readable only by its owner; refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a private key file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read signing key {path}: {err.strerror}") from err
    if len(raw) != 32:
        raise ConfigError(f"{path} is not a raw Ed25519 private key")
    return tickets.load_private(raw)
