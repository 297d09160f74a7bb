"""The command server's fan-out replicas: processes serving /ws/live from its feed (issue 20).

With `live_replicas` > 0 the server binds the live port itself (`live_port`, 0: any free
one), starts that many `python -m command.live_replica` processes sharing the socket (the
kernel spreads connections between them), hands each its settings on stdin and the feed
secret, and restarts one that dies. The pages learn the live port from GET /api/live, and the
page's Content-Security-Policy lets it connect there.

Replicas on other machines (`eventguard live-replica`, the same code as the local ones) need
the feed URL, the secret and the database: `live_feed_secret_file` fixes the secret (else one
is generated at each start, which only local replicas learn), and `live_public_url` is where the
live maps connect instead (a load balancer in front of the replicas): GET /api/live returns it
and the page's policy allows its origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from urllib.parse import urlsplit

from aiohttp import web

from command.appkeys import SETTINGS
from command.auth import STAFF, Principal
from command.feed import FEED_TOKEN
from command.live_replica import ReplicaConfig
from command.routing import guarded
from eventguard.browser import CSP
from eventguard.settings import ServerSettings, read_secret_file

log = logging.getLogger(__name__)

LIVE_PORT = web.AppKey("live_port", int)  # 0: this process serves /ws/live itself
routes = web.RouteTableDef()


def _loopback_for(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def replica_config(settings: ServerSettings, token: str, index: int) -> ReplicaConfig:
    """What replica `index` is told (the feed on this server, the same database role)."""
    tls = settings.tls_cert is not None
    return ReplicaConfig(
        feed_url=f"{'wss' if tls else 'ws'}://{_loopback_for(settings.host)}:{settings.port}/ws/feed",
        feed_token=token, database_url=settings.database_url, page_port=settings.port,
        page_scheme="https" if tls else "http", allowed_origins=settings.allowed_origins,
        session_recheck_s=settings.session_recheck_s, buffer_bytes=settings.live_buffer_bytes,
        tls_cert=str(settings.tls_cert) if settings.tls_cert else None,
        tls_key=str(settings.tls_key) if settings.tls_key else None, index=index,
        feed_ca=str(settings.tls_cert) if settings.tls_cert else None, feed_check_hostname=False)


async def _keep_running(cfg: ReplicaConfig, sock: socket.socket, procs: dict[int, asyncio.subprocess.Process]
                        ) -> None:
    """Run replica cfg.index; start it again if it stops (until cancelled)."""
    while True:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "command.live_replica", "--fd", str(sock.fileno()),
            stdin=asyncio.subprocess.PIPE, pass_fds=(sock.fileno(),))
        procs[cfg.index] = proc
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(asdict(cfg)).encode() + b"\n")  # the database URL holds a password
        await proc.stdin.drain()
        proc.stdin.close()
        code = await proc.wait()
        log.warning("live replica %d stopped (exit %s); starting it again", cfg.index, code)
        await asyncio.sleep(1.0)


async def replicas_ctx(app: web.Application) -> AsyncIterator[None]:
    """Bind the live port and run the replicas for the app's lifetime (none: LIVE_PORT 0)."""
    settings = app[SETTINGS]
    app[FEED_TOKEN] = token = (
        await asyncio.to_thread(read_secret_file, settings.live_feed_secret_file, "live_feed_secret_file")
        if settings.live_feed_secret_file is not None else secrets.token_urlsafe(32))
    if settings.live_replicas == 0:
        app[LIVE_PORT] = 0
        yield
        return
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.live_port))
    sock.listen(4096)
    sock.set_inheritable(True)
    app[LIVE_PORT] = sock.getsockname()[1]
    procs: dict[int, asyncio.subprocess.Process] = {}
    tasks = [asyncio.create_task(_keep_running(replica_config(settings, token, i), sock, procs),
                                 name=f"live-replica-{i}") for i in range(settings.live_replicas)]
    log.info("%d live replica(s) serving /ws/live on port %d", settings.live_replicas, app[LIVE_PORT])

    async def stop(_: web.Application) -> None:  # on shutdown, before open websockets are waited for
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for p in procs.values():
            if p.returncode is None:
                p.terminate()
        for p in procs.values():
            try:
                await asyncio.wait_for(p.wait(), 5)
            except TimeoutError:
                p.kill()
                await p.wait()
        procs.clear()

    app.on_shutdown.append(stop)
    try:
        yield
    finally:
        await stop(app)
        sock.close()


def _origin(url: str) -> str:
    """scheme://host[:port] of a ws(s) URL (as a CSP source)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def page_csp(request: web.Request) -> str | None:
    """The live map page's policy when /ws/live is on the replicas' port or behind the public
    live URL (None: the default)."""
    port, public = request.app[LIVE_PORT], request.app[SETTINGS].live_public_url
    sources = []
    if port:
        h = request.host
        name = h[:h.index("]") + 1] if h.startswith("[") else h.split(":")[0]
        sources.append(f"{'wss' if request.app[SETTINGS].tls_cert is not None else 'ws'}://{name}:{port}")
    if public:
        sources.append(_origin(public))
    if not sources:
        return None
    return CSP.replace("connect-src 'self'", f"connect-src 'self' {' '.join(sources)}")


@guarded(routes, "GET", "/api/live", STAFF, tag="live")
async def live_endpoint(request: web.Request, who: Principal) -> web.Response:
    """Where the live map's feed is served: the public live URL (replicas on other machines),
    else the local replicas' port, or nulls for this server."""
    public = request.app[SETTINGS].live_public_url
    port = request.app[LIVE_PORT]
    return web.json_response({"url": public or None, "port": port or None, "path": "/ws/live"})
