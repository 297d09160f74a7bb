"""A private PostgreSQL cluster for the demo and the tests (no system service needed).

Binaries come from the `pgserver` wheel (PostgreSQL 16) or, failing that, the newest
/usr/lib/postgresql/*/bin. The server listens on 127.0.0.1 on a free port and on a unix
socket in its data dir. PostgreSQL refuses to run as root, so as root the cluster runs as
an unprivileged system user (created once with useradd).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eventguard.errors import DatabaseError

PG_USER = "eventguard-pg"


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres."""
    try:
        import pgserver  # noqa: F401  (only its bundled binaries are used)
        from pgserver._commands import POSTGRES_BIN_PATH

        if (Path(POSTGRES_BIN_PATH) / "pg_ctl").exists():
            return Path(POSTGRES_BIN_PATH)
    except ImportError:
        pass
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for c in reversed(candidates):
        if (c / "pg_ctl").exists():
            return c
    raise DatabaseError("no PostgreSQL binaries: pip install pgserver, or apt-get install postgresql")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(PG_USER)


def _open_path_for(path: Path, uid: int) -> None:
    """Let the unprivileged server user traverse every parent of path (o+x)."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class EmbeddedPostgres:
    """Own one data directory: init on first use, start, stop, restart."""

    datadir: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.datadir = Path(self.datadir)
        self.bindir = find_bindir()
        self._as_root = os.geteuid() == 0
        self._user: pwd.struct_passwd | None = _ensure_system_user() if self._as_root else None
        if not self.port:
            self.port = free_port()

    @property
    def url(self) -> str:
        """asyncpg DSN of the server (database `postgres`)."""
        return self.dsn("postgres")

    def dsn(self, database: str) -> str:
        """asyncpg DSN for one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kw: dict[str, object] = {}
        if self._user is not None:
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd="/", **kw)  # type: ignore[call-overload]

    def init(self) -> None:
        """initdb once (trust auth: the server only listens on loopback and its own socket)."""
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _open_path_for(self.datadir, self._user.pw_uid)
            shutil.chown(self.datadir, self._user.pw_uid, self._user.pw_gid)
        self.datadir.chmod(0o700)
        r = self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                       "--auth=trust", "--encoding=UTF8", "--no-instructions"], timeout=120)
        if r.returncode != 0:
            raise DatabaseError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")

    def running(self) -> bool:
        """True if the postmaster of this data dir is alive."""
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"])
        return r.returncode == 0

    def start(self) -> None:
        """Start (initialising first if needed) and wait until it accepts connections."""
        self.init()
        if self._user is not None:
            _open_path_for(self.datadir, self._user.pw_uid)
        if self.running():
            self._adopt_port()
            return
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir} "
                "-c max_connections=200 -c fsync=on -c shared_buffers=128MB")
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60",
                       "-l", str(self.datadir / "server.log"), "-o", opts, "start"], timeout=90)
        if r.returncode != 0:
            log = (self.datadir / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise DatabaseError(f"PostgreSQL did not start: {r.stderr.strip()}\n{tail}")

    def _adopt_port(self) -> None:
        pid = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, IndexError, ValueError):
            self.port = int(pid.read_text().splitlines()[3])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode: smart, fast or immediate)."""
        if not (self.datadir / "PG_VERSION").exists() or not self.running():
            return
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-m", mode, "stop"])

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    @contextlib.contextmanager
    def running_ctx(self) -> Iterator[EmbeddedPostgres]:
        """Start for the duration of a with-block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()
