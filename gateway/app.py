"""Gateway application factory. This issue's scope: health and the static UI shell."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError

from tike import __version__
from tike.settings import GatewaySettings

UI_DIR = Path(__file__).resolve().parent.parent / "ui_static"


def get_redis(request: Request) -> aioredis.Redis:
    redis: aioredis.Redis = request.app.state.redis
    return redis


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(title="Tike gateway", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz", tags=["health"])
    async def healthz(redis: RedisDep) -> JSONResponse:
        """Liveness and dependencies: 200 when Redis answers, 503 otherwise."""
        checks: dict[str, Any] = {}
        try:
            checks["redis"] = bool(await redis.ping())
        except (RedisError, OSError) as exc:
            checks["redis"] = False
            checks["redis_error"] = str(exc)[:200]
        ok = checks["redis"]
        body = {"status": "ok" if ok else "degraded", "version": __version__, **checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    ui_dir = settings.ui_dir or UI_DIR
    if ui_dir.is_dir():
        app.mount("/", StaticFiles(directory=ui_dir, html=True), name="ui")
    return app


def run(settings: GatewaySettings) -> int:
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level,
        access_log=False,
    )
    return 0
