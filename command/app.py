"""create_app(settings, venue) -> aiohttp Application: routes, middlewares, lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
from aiohttp import web

from command import (
    api,
    camera_api,
    evacuation,
    evacuation_api,
    event_api,
    face_seal,
    holder_cards,
    incidents_api,
    ops_api,
    photo_seal,
    registration,
    replicas,
    responder_api,
    screening_api,
    tickets_api,
    twin_api,
    units_api,
    wallmap_api,
    watchlists,
)
from command.appkeys import (
    FACES,
    HOLDER_PHOTOS,
    HUB,
    ID_KEY,
    PHOTO_KEY,
    POOL,
    RESPONDERS,
    SERVICE,
    SETTINGS,
    TWIN,
    VENUE,
)
from command.auth import PasswordChecks
from command.camera_ws import camera_ws
from command.db.binding import bind_event
from command.db.migrate import migrate
from command.errors import CommandError, ValueRefused
from command.evacuation import ClearanceModel
from command.feed import feed_ws
from command.gate_ws import gate_ws
from command.hub import Hub
from command.live_ws import live_ws
from command.ratelimit import LoginLimits
from command.responder_ws import responder_ws
from command.responders import Responders
from command.series import series_ctx
from command.service import CommandService
from command.store import REFUSED
from command.sync import feed_ctx
from command.twin import TwinModel
from command.twin_service import TwinService
from eventguard.browser import SECURITY_HEADERS, needs_origin_check, same_origin
from eventguard.config import Venue
from eventguard.settings import ServerSettings

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors into JSON responses; never leak a stack trace to a client."""
    try:
        return await handler(request)
    except CommandError as err:
        headers = {"Retry-After": str(err.retry_after_s)} if err.retry_after_s is not None else None
        return web.json_response({"error": err.code, "message": str(err)}, status=err.status, headers=headers)
    except web.HTTPException as err:
        if err.content_type != "application/json" and err.status >= 400:
            return web.json_response({"error": err.reason.lower().replace(" ", "_"), "message": err.reason},
                                     status=err.status, headers={k: v for k, v in err.headers.items()
                                                                 if k.lower() in ("allow", "retry-after")})
        raise
    except REFUSED as err:  # a value no check caught and the database refused: the client's
        log.warning("%s %s: value refused by the database: %s", request.method, request.path, err)
        return web.json_response({"error": ValueRefused.code, "message": "a value was refused by the database"},
                                 status=ValueRefused.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "message": "internal server error"}, status=500)


@web.middleware
async def origin_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Requests that change state and websocket upgrades from a page of another origin are
    refused (a session cookie alone must not be enough: CSRF, cross-site websocket hijacking)."""
    if needs_origin_check(request.method, request.headers.get("Upgrade")) and not same_origin(
            request.headers.get("Origin"), scheme=request.scheme, host=request.host,
            allowed=request.app[SETTINGS].allowed_origins):
        return web.json_response({"error": "bad_origin", "message": "request from another origin refused"},
                                 status=403)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (pages, API, static files, errors, websocket handshakes)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    conn = await asyncpg.connect(settings.admin_database_url or settings.database_url)
    try:
        await migrate(conn)
        await bind_event(conn, app[VENUE].event.id)  # a database serves one event
        await _seal_encodings(conn, settings.key_dir)  # issue 17: embeddings sealed at rest (sql/0023)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=10,
                                     command_timeout=30)
    assert pool is not None
    app[POOL] = pool
    service = CommandService(app[VENUE], pool, app[HUB], order_ack_timeout_s=settings.order_ack_timeout_s,
                             responders=app[RESPONDERS])
    await service.start()
    app[SERVICE] = service
    tasks = [asyncio.create_task(service.run_ticker(settings.tick_s), name="command-ticker"),
             asyncio.create_task(service.run_publisher(settings.live_interval_s), name="command-publisher")]
    yield
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await pool.close()


# ---- face embeddings sealed at rest (issue 17, command/face_seal.py) --------------------------

async def _seal_encodings(conn: asyncpg.Connection, key_dir: Path | None) -> None:
    """At start: refuse a photo key that did not seal the stored embeddings (FaceSealError, one
    line), then seal the rows still clear (resumable). A role that may not write registrations
    (an external DATABASE_URL) leaves them to `eventguard db seal-encodings`; readers take both."""
    path = photo_seal.key_path(key_dir)
    key = await asyncio.to_thread(photo_seal.load_key, path)
    await face_seal.check_key(conn, key, str(path))
    if not any((await face_seal.clear_rows(conn)).values()):
        return  # all sealed already (no UPDATE privilege needed to find out)
    try:
        done = await face_seal.seal_clear_rows(conn, key)
    except asyncpg.InsufficientPrivilegeError as err:
        log.warning("face embeddings still in clear (%s): run `eventguard db seal-encodings`", err)
        return
    if any(done.values()):
        log.info("face embeddings sealed at start: %s", done)


async def _password_checks(app: web.Application) -> AsyncIterator[None]:
    app[api.PASSWORD_CHECKS] = checks = PasswordChecks()
    yield
    checks.close()


async def _faces(app: web.Application) -> AsyncIterator[None]:
    """The face thread that embeds uploaded watchlist photos, and the key that seals them."""
    from vision.engine import EngineName
    from vision.faceworker import EngineOptions, face_executor

    settings = app[SETTINGS]
    app[PHOTO_KEY] = photo_seal.KeyFile(photo_seal.key_path(settings.key_dir))
    app[ID_KEY] = photo_seal.KeyFile(registration.id_key_path(settings.key_dir))  # a 32-byte key file too
    app[HOLDER_PHOTOS] = holder_cards.PhotoCache(app[PHOTO_KEY])
    pool = face_executor(0, "server", EngineOptions(EngineName(settings.face_engine)))
    app[FACES] = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)


def _twin_ctx(model: TwinModel) -> Callable[[web.Application], AsyncIterator[None]]:
    """The twin service's lifecycle (needs the command service: after `_database`)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        twin = TwinService(app[SERVICE], model, interval_s=settings.twin_interval_s,
                           horizon_s=settings.twin_horizon_s)
        app[TWIN] = twin
        task = asyncio.create_task(twin.run(), name="twin")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        twin.close()
    return ctx


async def index(request: web.Request) -> web.StreamResponse:
    """The live map page."""
    resp = web.FileResponse(request.app[SETTINGS].web_dir / "index.html")
    csp = replicas.page_csp(request)  # live push on the replicas' port (issue 20)
    if csp is not None:
        resp.headers["Content-Security-Policy"] = csp
    return resp


def create_app(settings: ServerSettings, venue: Venue, *, twin: TwinModel | None = None,
               clearance: ClearanceModel | None = None) -> web.Application:
    """The command server application (the database pool opens on startup); with `twin`, the
    twin service forecasts beside it (issue 19); with `clearance`, an evacuation shows each
    zone's clearance time (issue 20)."""
    app = web.Application(middlewares=[errors_middleware, origin_check], client_max_size=settings.max_upload_bytes)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[VENUE] = venue
    app[HUB] = Hub(settings.live_queue)
    app[RESPONDERS] = Responders()  # issue 20: units' responder pages, pushed their orders
    app[api.LOGIN_LIMITS] = LoginLimits(settings.login_attempts_per_min, settings.login_attempts_per_min,
                                        settings.login_failures_per_min)
    app.cleanup_ctx.append(_password_checks)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(feed_ctx)  # list sync to gates (LISTEN); needs the database first
    app.cleanup_ctx.append(_faces)
    app.cleanup_ctx.append(watchlists.expiry_ctx)  # expired watchlist entries erased (issue 17)
    app.add_routes(api.routes)
    app.add_routes(ops_api.routes)
    app.add_routes(watchlists.routes)
    app.add_routes(event_api.routes)
    app.add_routes(tickets_api.routes)
    # command operations (issue 20): units and the responder page
    app.add_routes(units_api.routes)
    app.add_routes(responder_api.routes)
    # digital twin (issue 19): forecasts to the live map, "what if"
    app.add_routes(twin_api.routes)
    if twin is not None:
        app.cleanup_ctx.append(_twin_ctx(twin))
    app.add_routes(screening_api.routes)  # screening review (issue 17)
    app.add_routes(camera_api.routes)  # crowd sensing (issue 18): a camera's latest frame
    app.add_routes(incidents_api.routes)  # issue 20: the incidents board
    app.add_routes(evacuation_api.routes)  # issue 20: evacuation
    app[evacuation_api.EVACUATION] = evacuation.EvacuationDesk(model=clearance)
    app.cleanup_ctx.append(evacuation_api.push_ctx)  # pushed to live maps when it changes
    app.router.add_get("/ws/gate", gate_ws)
    app.router.add_get("/ws/live", live_ws)
    app.router.add_get("/ws/camera", camera_ws)  # crowd sensing (issue 18)
    app.router.add_get("/ws/responder", responder_ws)  # issue 20: a unit's orders and evacuation by push
    # live push at scale (issue 20): fan-out replicas fed over /ws/feed serve /ws/live
    app.cleanup_ctx.append(replicas.replicas_ctx)
    app.add_routes(replicas.routes)
    app.router.add_get("/ws/feed", feed_ws)
    # the wall map (issue 20): plan picture, chart history kept by the server
    app.cleanup_ctx.append(series_ctx)
    app.add_routes(wallmap_api.routes)
    if (settings.web_dir / "index.html").exists():
        app.router.add_get("/", index)
        app.router.add_get("/responder", responder_api.page)
        app.router.add_static("/static/", settings.web_dir, follow_symlinks=False)
    return app


def json_dumps(obj: object) -> str:
    """Compact JSON (used by tests and CLI output)."""
    return json.dumps(obj, separators=(",", ":"))
