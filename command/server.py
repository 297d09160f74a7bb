"""Run the command server in this process: start it, or serve until cancelled."""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from command.app import create_app
from command.evacuation import ClearanceModel
from command.twin import TwinModel
from eventguard.config import Venue
from eventguard.settings import ServerSettings


async def start(settings: ServerSettings, venue: Venue, *, twin: TwinModel | None = None,
                clearance: ClearanceModel | None = None) -> web.AppRunner:
    """Start serving (with the twin model, if given); the caller owns the runner (await
    runner.cleanup() to stop)."""
    settings.validate()
    ctx = None
    if settings.tls_cert and settings.tls_key:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    # keepalive_timeout also bounds the wait for a request head (on a new connection and between
    # requests): aiohttp closes a connection that has not sent one by then (slowloris)
    runner = web.AppRunner(create_app(settings, venue, twin=twin, clearance=clearance), access_log=None, shutdown_timeout=2,
                           keepalive_timeout=settings.header_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ctx, backlog=2048)
    await site.start()
    return runner


async def serve_forever(settings: ServerSettings, venue: Venue, *, twin: TwinModel | None = None,
                        clearance: ClearanceModel | None = None) -> None:
    """Serve until the task is cancelled (Ctrl-C)."""
    runner = await start(settings, venue, twin=twin, clearance=clearance)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
