"""Sealed enrolment photos: AES-GCM under a 0600 key file; only the right key and row open them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from command import photo_seal
from command.errors import PhotoSealError
from eventguard.errors import ConfigError

PHOTO = b"\xff\xd8 a jpeg's bytes \xff\xd9" * 100


def test_a_sealed_photo_opens_only_with_its_key_for_its_row() -> None:
    key, other = bytes(range(32)), bytes(range(1, 33))
    owner = photo_seal.registration_owner("r1")
    sealed = photo_seal.seal(key, PHOTO, owner)
    assert PHOTO not in sealed and sealed.startswith(photo_seal.MAGIC)
    assert photo_seal.seal(key, PHOTO, owner) != sealed  # a fresh nonce every time
    assert photo_seal.unseal(key, sealed, owner) == PHOTO
    with pytest.raises(PhotoSealError, match="another key"):
        photo_seal.unseal(other, sealed, owner)
    with pytest.raises(PhotoSealError, match="not this row"):
        photo_seal.unseal(key, sealed, photo_seal.registration_owner("r2"))  # copied to another row
    with pytest.raises(PhotoSealError, match="not this row"):
        photo_seal.unseal(key, sealed, photo_seal.watch_owner("r1"))
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(PhotoSealError, match="damaged"):
        photo_seal.unseal(key, bytes(flipped), owner)
    with pytest.raises(PhotoSealError, match="not a sealed photo"):
        photo_seal.unseal(key, b"EGP1", owner)


def test_the_key_file_is_private_created_once_and_checked(tmp_path: Path) -> None:
    path = photo_seal.key_path(tmp_path / "keys")
    with pytest.raises(ConfigError, match="missing"):
        photo_seal.load_key(path, create=False)
    key = photo_seal.load_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert photo_seal.load_key(path) == key  # never overwritten
    lazy = photo_seal.KeyFile(path)
    assert lazy.get() == key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        photo_seal.load_key(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="32-byte"):
        photo_seal.load_key(path)
