"""A gate's files hold tickets, admissions and faces: they are readable by its own user only.

open_private() creates a file 0600 (whatever the umask) in a folder it creates 0700, and makes
an existing file and SQLite's side files (-wal, -shm, -journal, which SQLite creates with the
main file's mode) 0600 too. An existing folder is left as it is: it may be shared.
private_key() keeps a gate's own key for what it stores sealed (holders' photos, names, ID hashes).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> None:
    """Create `path` (and missing parents) mode 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o700)  # mkdir's mode is cut by the umask, and parents get the default


def private_file(path: Path) -> None:
    """Make sure `path` exists with mode 0600 (in a 0700 folder when the folder is new)."""
    private_folder(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)):
        if p.exists():
            os.chmod(p, 0o600)


def open_private(path: Path) -> sqlite3.Connection:
    """A SQLite connection to a private file (see the module)."""
    private_file(path)
    return sqlite3.connect(path, check_same_thread=False, isolation_level=None)


KEY_BYTES = 32


def private_key(path: Path) -> bytes:
    """A random 32-byte key in a 0600 file (in a 0700 folder when new), created once and never
    overwritten; ValueError if the file is open to others or is not a key."""
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} is readable by others; chmod 600 it")
    raw = path.read_bytes()
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{path} is not a {KEY_BYTES}-byte key")
    return raw
