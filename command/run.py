"""Run the command server until cancelled."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp import web

from command.app import create_app
from eventguard.config import Venue
from eventguard.settings import ServerSettings


async def start(settings: ServerSettings, venue: Venue) -> web.AppRunner:
    """Start serving; the caller owns the runner (await runner.cleanup() to stop)."""
    settings.validate()
    ctx = None
    if settings.tls_cert and settings.tls_key:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    runner = web.AppRunner(create_app(settings, venue), access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ctx, backlog=2048)
    await site.start()
    return runner


async def serve_forever(settings: ServerSettings, venue: Venue) -> None:
    """Serve until the task is cancelled (Ctrl-C)."""
    runner = await start(settings, venue)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def spawn(dsn: str, port: int, data_root: Path, *, venue_path: Path | None = None,
          timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
    """`eventguard serve` in its own process (log in data_root/server.log); returns once
    /api/health answers, or raises RuntimeError."""
    args = [sys.executable, "-m", "eventguard.cli", "serve", "--database-url", dsn, "--port", str(port)]
    if venue_path is not None:
        args += ["--venue", str(venue_path)]
    log = data_root / "server.log"
    with log.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(args, env={**os.environ, "XDG_DATA_HOME": str(data_root)},
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
