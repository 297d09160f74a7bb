"""A gate's files hold tickets, admissions and faces: they are readable by its own user only.

open_private() creates a file 0600 (whatever the umask) in a folder it creates 0700, and makes
an existing file and SQLite's side files (-wal, -shm, -journal, which SQLite creates with the
main file's mode) 0600 too. An existing folder is left as it is: it may be shared.
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
