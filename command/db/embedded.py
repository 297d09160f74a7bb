"""A private PostgreSQL cluster for the demo and the tests (no system service needed).

Binaries come from the `pgserver` wheel (PostgreSQL 16) or, failing that, the newest
/usr/lib/postgresql/*/bin. The server listens on 127.0.0.1 on a free port and on a unix
socket in its data dir (mode 0700). PostgreSQL refuses to run as root, so as root the cluster
runs as an unprivileged system user (created once with useradd).

Nothing is trusted: every connection, local socket or TCP, authenticates with SCRAM. The
superuser's password is generated at initdb and kept in `<datadir>.secret` (0600, readable by
the user who runs EventGuard only). The command server connects as APP_ROLE, a login without
superuser whose password is derived from that secret and whose grants are the migrations'
(sql/0014_app_role.sql: only the tables it needs; the audit log INSERT and SELECT only).
A cluster made by an older version with `trust` is converted on its next start.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eventguard.errors import DatabaseError

PG_USER = "eventguard-pg"
APP_ROLE = "eventguard_app"
SUPERUSER = "postgres"
HBA = """# EventGuard: every connection authenticates with a password (SCRAM); nothing is trusted.
# TYPE  DATABASE  USER  ADDRESS         METHOD
local   all       all                   scram-sha-256
host    all       all   127.0.0.1/32    scram-sha-256
host    all       all   ::1/128         scram-sha-256
"""


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
        """asyncpg DSN of the server (database `postgres`, as the superuser)."""
        return self.dsn("postgres")

    @property
    def secret_file(self) -> Path:
        """The superuser's password (0600, beside the data dir; the app role's derives from it)."""
        return self.datadir.with_name(self.datadir.name + ".secret")

    def _secret(self) -> str:
        try:
            return self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise DatabaseError(f"cannot read the database password file {self.secret_file}: {err.strerror}") from err

    def app_password(self) -> str:
        """The password of APP_ROLE (derived from the superuser's secret, never stored)."""
        mac = hmac.new(self._secret().encode(), APP_ROLE.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def dsn(self, database: str) -> str:
        """asyncpg DSN for one database on this server, as the superuser (migrations, tools)."""
        return f"postgresql://{SUPERUSER}:{self._secret()}@127.0.0.1:{self.port}/{database}"

    def app_dsn(self, database: str) -> str:
        """asyncpg DSN for one database as APP_ROLE (what the command server runs with)."""
        return f"postgresql://{APP_ROLE}:{self.app_password()}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], timeout: float = 60, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
        kw: dict[str, object] = {}
        if self._user is not None:
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd="/", input=stdin, **kw)  # type: ignore[call-overload]

    def _write_secret(self) -> str:
        secret = secrets.token_urlsafe(32)
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(secret + "\n")
        return secret

    def _own(self, path: Path) -> None:
        if self._user is not None:
            shutil.chown(path, self._user.pw_uid, self._user.pw_gid)

    def init(self) -> None:
        """initdb once: SCRAM for every connection, the superuser's password generated, and
        APP_ROLE created (single-user mode, before the server first listens)."""
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _open_path_for(self.datadir, self._user.pw_uid)
            shutil.chown(self.datadir, self._user.pw_uid, self._user.pw_gid)
        self.datadir.chmod(0o700)
        secret = self._write_secret()
        fd, pwfile = tempfile.mkstemp(prefix="eventguard-pg-pw-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secret + "\n")
            self._own(Path(pwfile))
            r = self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER,
                           f"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                           "--encoding=UTF8", "--no-instructions"], timeout=120)
        finally:
            os.unlink(pwfile)
        if r.returncode != 0:
            raise DatabaseError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
        self._harden(set_superuser_password=False)

    def _harden(self, *, set_superuser_password: bool) -> None:
        """With the server stopped: the app role (and the superuser's password), then pg_hba."""
        sql = [f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
               f"CREATE ROLE {APP_ROLE}; END IF; END$$;",
               f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
               f"PASSWORD '{self.app_password()}';"]
        if set_superuser_password:
            sql.append(f"ALTER ROLE {SUPERUSER} PASSWORD '{self._secret()}';")
        r = self._run([str(self.bindir / "postgres"), "--single", "-D", str(self.datadir), "postgres"],
                      stdin="\n".join(sql) + "\n", timeout=120)
        if r.returncode != 0 or "ERROR" in r.stdout + r.stderr:
            raise DatabaseError(f"setting up database roles failed: {(r.stderr or r.stdout).strip()[-2000:]}")
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(HBA, encoding="utf-8")
        self._own(hba)
        hba.chmod(0o600)

    def _trusting(self) -> bool:
        """A cluster initialised by an older version: trust in pg_hba, or no password file."""
        try:
            hba = (self.datadir / "pg_hba.conf").read_text(encoding="utf-8")
        except OSError:
            return True
        rules = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        return not self.secret_file.exists() or any("trust" in r for r in rules)

    def running(self) -> bool:
        """True if the postmaster of this data dir is alive."""
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"])
        return r.returncode == 0

    def start(self) -> None:
        """Start (initialising first if needed) and wait until it accepts connections."""
        self.init()
        if self._user is not None:
            _open_path_for(self.datadir, self._user.pw_uid)
        if self._trusting():  # made by an older version: convert it (it must stop for that)
            self.stop()
            if not self.secret_file.exists():
                self._write_secret()
            self._harden(set_superuser_password=True)
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
