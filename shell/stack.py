"""One harness for a whole stack in real processes: a throwaway embedded PostgreSQL, a
provisioned event (operators, key, gate tokens) and `eventguard serve` in its own process.

`eventguard soak`, `eventguard sim run` and `eventguard bench command` all start their
servers through it, as do the fault tests. Blocking calls (pg_ctl, the server's start-up
wait) run in a worker thread when the harness is driven from async code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from command.db.embedded import EmbeddedPostgres, free_port
from command.provision import Provisioned, provision
from eventguard.config import Venue
from eventguard.settings import DEFAULT_VENUE


def spawn(dsn: str, port: int, data_root: Path, *, venue_path: Path | None = None,
          timeout_s: float = 60.0, serve_args: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`eventguard serve` in its own process (log in data_root/server.log); returns once
    /api/health answers, or raises RuntimeError. Without a venue file: the demo venue. The DSN (it
    holds a password) goes in the environment, not on the command line every local user can read."""
    args = [sys.executable, "-m", "shell.cli", "serve", "--port", str(port), "--venue",
            str(venue_path or DEFAULT_VENUE), *serve_args]
    log = data_root / "server.log"
    with log.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(args, env={**os.environ, "XDG_DATA_HOME": str(data_root), "DATABASE_URL": dsn},
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"command server did not start; see {log}") from None
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a spawned server (kill it if it does not stop in time)."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Stack:
    """PostgreSQL + command server of one venue on loopback, under one root folder."""

    def __init__(self, venue: Venue, root: Path | None = None, *, venue_path: Path | None = None,
                 prefix: str = "eventguard-stack-", serve_args: tuple[str, ...] = ()) -> None:
        self.venue = venue
        self.serve_args = serve_args  # more `eventguard serve` options (e.g. --live-replicas)
        self.venue_path = venue_path  # the file `venue` came from, for the server (None: the default)
        self._own_root = root is None  # a temporary root is removed by close()
        self.root = Path(root or tempfile.mkdtemp(prefix=prefix))
        self.pg = EmbeddedPostgres(self.root / "pg", port=free_port())
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self._prov: Provisioned | None = None

    @property
    def dsn(self) -> str:
        """Database of the stack."""
        return self.pg.dsn("postgres")

    @property
    def url(self) -> str:
        """Base URL of the command server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def prov(self) -> Provisioned:
        """The event key and gate tokens (after start)."""
        if self._prov is None:
            raise RuntimeError("the stack is not provisioned yet")
        return self._prov

    @property
    def tokens(self) -> dict[str, str]:
        """Gate id -> gate token (after start)."""
        return self.prov.gate_tokens

    async def start(self) -> Provisioned:
        """Database, provisioning and server, from async code (blocking steps off the loop)."""
        await asyncio.to_thread(self.pg.start)
        self._prov = await provision(self.dsn, self.venue, self.root / "keys")
        await asyncio.to_thread(self.start_server)
        return self._prov

    def start_sync(self) -> Provisioned:
        """The same from synchronous code."""
        return asyncio.run(self.start())

    def start_server(self) -> None:
        """Start the command server subprocess (as the app role) and wait for /api/health."""
        self.server = spawn(self.pg.app_dsn("postgres"), self.port, self.root, venue_path=self.venue_path,
                            serve_args=self.serve_args)

    def kill_server(self) -> None:
        """kill -9 the command server."""
        if self.server is not None:
            self.server.send_signal(signal.SIGKILL)
            self.server.wait(10)
            self.server = None

    async def restart_server(self, down_s: float = 0.0) -> None:
        """kill -9 the server, wait `down_s`, start it again (blocking steps off the loop)."""
        await asyncio.to_thread(self.kill_server)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.start_server)

    async def stop_database(self, mode: str = "fast") -> None:
        """Stop PostgreSQL (pg_ctl off the loop)."""
        await asyncio.to_thread(self.pg.stop, mode)

    async def start_database(self) -> None:
        """Start PostgreSQL again (pg_ctl off the loop)."""
        await asyncio.to_thread(self.pg.start)

    def close(self) -> None:
        """Stop the server and PostgreSQL; remove a temporary root."""
        if self.server is not None:
            stop(self.server)
            self.server = None
        self.pg.stop("immediate")
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    async def aclose(self) -> None:
        """close() from async code."""
        await asyncio.to_thread(self.close)


@contextlib.contextmanager
def running(venue: Venue, *, venue_path: Path | None = None,
            prefix: str = "eventguard-stack-", serve_args: tuple[str, ...] = ()) -> Iterator[Stack]:
    """A started stack for synchronous programs (sim run, bench command); closed on exit."""
    s = Stack(venue, venue_path=venue_path, prefix=prefix, serve_args=serve_args)
    try:
        s.start_sync()
        yield s
    finally:
        s.close()
