"""Gateway application factory: REST (OpenAPI at /docs), websockets, metrics and the UI.

Every process serves from the shared Redis projection; one of them at a time also projects
Kafka into Redis (see gateway/board_projection.py). ``create_app(settings, project=False)`` builds a
process that only serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import api, metrics, rules_api, ws
from gateway.board_projection import BoardProjection
from gateway.commands import Commands
from gateway.deps import StoreDep
from gateway.fanout import Hub
from gateway.projection_lease import LeaseWatch
from gateway.revocations import Revocations
from gateway.store import Store
from tike import __version__, logs
from tike.regions import load_registry
from tike.settings import GatewaySettings
from tike_core.gc_watch import GcWatch, into

log = logging.getLogger(__name__)
UI_DIR = Path(__file__).resolve().parent.parent / "ui_static"


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        # Read the body here (it is small by definition) so an oversize streamed body is
        # refused with 413 before the app sees it; the app gets it replayed.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"error": "payload_too_large", "detail": f"request body over {self.limit} bytes"}
        await JSONResponse(body, status_code=413)(scope, receive, send)


def _replay(chunks: list[bytes], final: Message | None, rest: Receive | None = None) -> Receive:
    """A receive() that gives the buffered body once, then defers to the real one."""
    pending: list[Message] = (
        [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        if final is None
        else [final]
    )

    async def receive() -> Message:
        if pending:
            return pending.pop()
        if rest is None:
            return {"type": "http.disconnect"}
        return await rest()

    return receive


class SecurityHeaders:
    """Headers on every HTTP response: a Content-Security-Policy (scripts and connections
    from this origin only, no framing), nosniff, no referrer. ``/docs`` and ``/redoc`` (off
    in prod) load Swagger UI and ReDoc from a CDN: they get a policy that allows it."""

    def __init__(self, app: ASGIApp, tiles_origin: str | None) -> None:
        self.app = app
        img = "'self' data: blob:" + (f" {tiles_origin}" if tiles_origin else "")
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ).encode()
        cdn = "https://cdn.jsdelivr.net"
        self.docs_csp = (
            f"default-src 'self'; script-src 'self' 'unsafe-inline' {cdn}; "
            f"style-src 'self' 'unsafe-inline' {cdn} https://fonts.googleapis.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "font-src 'self' https://fonts.gstatic.com; worker-src blob:; frame-ancestors 'none'"
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "") in ("/docs", "/redoc")
        csp = self.docs_csp if docs else self.csp

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of a URL template (the map tiles), or None."""
    if not url:
        return None
    m = re.match(r"^(https?://[^/{}]+)", url)
    return m.group(1) if m else None


def _error(status: int, code: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def redis_client(settings: GatewaySettings, connections: int | None) -> aioredis.Redis:
    """A client with its own pool of at most ``connections``. A bounded pool blocks: a caller
    waits up to ``TIKE_REDIS_POOL_TIMEOUT_S`` for a free connection instead of failing at once;
    a ``max_connections`` in ``TIKE_REDIS_URL`` takes precedence (as redis-py has it). None:
    no limit, whatever the URL says (for the fan-out readers: one connection per stream).
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "health_check_interval": 10,
    }
    if connections is None:
        pool: aioredis.ConnectionPool = aioredis.ConnectionPool.from_url(
            settings.redis_url, **options
        )
        pool.max_connections = 2**31  # redis-py's "no limit"
    else:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=connections,
            timeout=settings.redis_pool_timeout_s,
            **options,
        )
    return aioredis.Redis.from_pool(pool)


def _projector_ended(task: asyncio.Task[None]) -> None:
    """The projector ends only when the gateway shuts down; say so loudly if not."""
    if task.cancelled():
        return
    exc = task.exception()
    log.critical("the projector task ended: this process no longer projects", exc_info=exc)


def create_app(settings: GatewaySettings | None = None, project: bool = True) -> FastAPI:
    settings = settings or GatewaySettings()
    registry = load_registry(settings.regions_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Three clients, so that nothing long-lived takes connections from the shared pool:
        # requests and websocket handshakes share a bounded, blocking pool; the fan-out
        # readers (XREAD BLOCK, up to a second each) get one connection per stream in use;
        # the projector gets its own, so client load cannot delay its lease renewal.
        redis = redis_client(settings, settings.redis_max_connections)
        readers = redis_client(settings, None)
        projecting = redis_client(settings, 2)
        store = Store(redis)
        app.state.store = store
        app.state.hub = Hub(
            store,
            settings.ws_queue_max,
            reader=readers,
            limit=settings.ws_queue_max,
            max_fps=settings.ws_max_fps,
            send_timeout_s=settings.ws_send_timeout_s,
        )
        app.state.commands = Commands(settings, store)
        projector = BoardProjection(settings, Store(projecting))
        app.state.projector = projector
        app.state.revocations = Revocations(store, settings.ws_auth_check_s)
        app.state.lease_watch = LeaseWatch(redis, settings.projector_lease_s)
        gc_watch = GcWatch(
            into(metrics.GC_PAUSE_SECONDS),
            freeze=settings.gc_freeze,
            call_soon=asyncio.get_running_loop().call_soon_threadsafe,
        ).install()
        tasks = [
            asyncio.create_task(app.state.revocations.run(), name="revocations"),
            asyncio.create_task(app.state.lease_watch.run(), name="projection lease watch"),
        ]
        if project:
            task = asyncio.create_task(projector.run(), name="board-projection")
            task.add_done_callback(_projector_ended)
            tasks.append(task)
        try:
            yield
        finally:
            for task in tasks:
                task.remove_done_callback(_projector_ended)
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            gc_watch.uninstall()
            await app.state.hub.close()
            await app.state.commands.close()
            for client in (redis, readers, projecting):
                await client.aclose()

    docs = settings.api_docs if settings.api_docs is not None else settings.env != "prod"
    app = FastAPI(
        title="Tike gateway",
        version=__version__,
        lifespan=lifespan,
        description="Live situation board, team dispatch channels and operator rules API.",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings, app.state.registry = settings, registry
    app.state.sockets_per_token = {}  # token id -> open websockets (TIKE_WS_MAX_PER_TOKEN)
    app.state.default_region = next(iter(registry.regions))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, tiles_origin=_origin(settings.map_tiles_url))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, "http_error", exc.detail)
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return _error(422, "invalid_request", detail)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, exc: RedisError) -> JSONResponse:
        # The cause (with Redis's address) goes to the log, never to the client.
        log.warning("Redis error on %s %s: %s", request.method, request.url.path, exc)
        return _error(503, "state_store_unavailable", "the state store (Redis) is unavailable")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "see the gateway log")

    @app.get("/healthz", tags=["health"])
    async def healthz(store: StoreDep) -> JSONResponse:
        """Liveness and dependencies: 200 when Redis answers, 503 otherwise. ``projector`` is
        ``down`` when no gateway has held the projection lease for longer than
        ``TIKE_PROJECTOR_LEASE_S`` (nothing updates the board); that alone does not make
        this process unhealthy (restarting it would not help the others)."""
        checks: dict[str, Any] = {}
        watch: LeaseWatch = app.state.lease_watch
        try:
            checks["redis"] = bool(await store.redis.ping())
            checks["projection_epoch"] = await store.epoch()
            missing = await watch.check()
        except (RedisError, OSError) as exc:
            checks["redis"] = False
            checks["redis_error"] = type(exc).__name__  # the address only in the log
            log.warning("healthz: Redis does not answer: %s", exc)
            missing = watch.saw(False)
        checks["projector_active"] = app.state.projector.active
        checks["projector"] = "down" if watch.down else "up"
        checks["projector_lease_missing_s"] = round(missing, 1)
        ok = checks["redis"]
        body = {"status": "ok" if ok else "degraded", "version": __version__, **checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus(store: StoreDep) -> Response:
        with contextlib.suppress(RedisError, OSError):
            for reason, count in (await store.deadletters()).items():
                metrics.DEADLETTERS.labels(reason).set(count)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api.router)
    app.include_router(rules_api.router)
    app.include_router(ws.router)
    ui_dir = settings.ui_dir or UI_DIR
    if ui_dir.is_dir():
        app.mount("/", StaticFiles(directory=ui_dir, html=True), name="ui")
    return app


class RedactTokens(logging.Filter):
    """Keep tokens out of logs (uvicorn logs websocket paths with their query)."""

    # "token=" with any of its characters percent-encoded (``tok%65n=``, ``token%3D``).
    PATTERN = re.compile(
        "(" + "".join(f"(?:{c}|%{ord(c):02x})" for c in "token=") + r")[^&\s\"']+",
        re.IGNORECASE,
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.PATTERN.search(message):
            record.msg, record.args = self.PATTERN.sub(r"\1[redacted]", message), ()
        return True


def _redact_uvicorn_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(RedactTokens())


def worker_app() -> FastAPI:
    """The app of one process of ``tike gateway --workers N`` (uvicorn imports it by name
    in each worker process, which reads its settings from the environment)."""
    _redact_uvicorn_logs()  # each worker configures its logging afresh
    return create_app()


def run(settings: GatewaySettings, workers: int | None = None) -> int:
    """Serve with uvicorn: one process, or ``workers`` processes on one socket (each with
    its own fan-out; they compete for the one projector lease like separate gateways)."""
    import uvicorn

    from gateway.wire import FanoutProtocol

    workers = workers or settings.gateway_workers
    _redact_uvicorn_logs()
    app: Any = create_app(settings) if workers == 1 else "gateway.app:worker_app"
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level,
        log_config=logs.config(settings.log_level, settings.log_format),
        access_log=False,
        ws=FanoutProtocol,
        ws_max_size=65536,
        ws_per_message_deflate=settings.ws_compression,
    )
    return 0
