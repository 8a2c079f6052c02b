"""The gateway's Redis connections (gateway/app.py), against a real Redis server.

Requests and websocket handshakes share one bounded pool that makes a caller wait for a free
connection instead of failing ("Too many connections" refused websocket clients with 1011 in
the fan-out benchmark); the fan-out readers, which hold a connection for up to a second in
``XREAD BLOCK``, and the projector have connections of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.app import create_app, redis_client
from gateway.fanout import Outbox
from gateway.store import team_key
from tike.settings import GatewaySettings
from tike_cli.harness import start_redis


@pytest_asyncio.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    child, redis_url = start_redis(tmp_path)
    yield redis_url
    child.stop()


async def _hold(client: aioredis.Redis, seconds: float) -> None:
    """Keep one connection busy for ``seconds`` (a blocking pop on a list nobody fills)."""
    await client.blpop(["tike:test:nothing"], timeout=seconds)


async def test_the_shared_pool_makes_callers_wait_instead_of_failing(url: str) -> None:
    # As shipped: redis-py's default pool refuses the caller beyond its size, at once.
    default = aioredis.Redis.from_url(url, max_connections=2)
    results = await asyncio.gather(*(_hold(default, 0.3) for _ in range(4)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, RedisConnectionError)]
    assert len(refused) == 2 and "Too many connections" in str(refused[0])
    await default.aclose()
    # The gateway's pool: the two extra callers wait for a connection and then succeed.
    settings = GatewaySettings(redis_url=url, redis_max_connections=2, redis_pool_timeout_s=5)
    client = redis_client(settings, settings.redis_max_connections)
    started = time.monotonic()
    await asyncio.gather(*(_hold(client, 0.3) for _ in range(4)))
    assert time.monotonic() - started >= 0.55  # two rounds through two connections
    info: Any = await client.info("clients")
    assert info["connected_clients"] <= 3  # these two, and the INFO's own turn on one of them
    await client.aclose()


async def test_a_caller_waits_at_most_the_pool_timeout(url: str) -> None:
    settings = GatewaySettings(redis_url=url, redis_max_connections=1, redis_pool_timeout_s=0.2)
    client = redis_client(settings, settings.redis_max_connections)
    holder = asyncio.create_task(_hold(client, 2))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await client.get("x")
    assert 0.15 <= time.monotonic() - started < 1.0
    await holder
    await client.aclose()


async def test_fanout_readers_do_not_take_connections_from_the_shared_pool(url: str) -> None:
    """Ten team channels in use, so ten readers blocked in XREAD, and a shared pool of one
    connection: requests still get it at once."""
    settings = GatewaySettings(redis_url=url, redis_max_connections=1, redis_pool_timeout_s=0.5)
    app = create_app(settings, project=False)
    async with app.router.lifespan_context(app):
        store, hub = app.state.store, app.state.hub
        shared = store.redis.connection_pool
        assert isinstance(shared, aioredis.BlockingConnectionPool)
        assert shared.max_connections == 1 and shared.timeout == 0.5
        assert hub.reader.connection_pool is not shared
        assert app.state.projector.store.redis.connection_pool is not shared
        boxes = []
        for i in range(10):
            box = Outbox(lambda item: str(item), 10)
            hub.subscribe(team_key(f"t{i}"), box, None, 0)
            boxes.append(box)
        await asyncio.sleep(0.3)  # every reader is in its blocking read now
        for _ in range(5):
            started = time.monotonic()
            await store.epoch()
            assert time.monotonic() - started < 0.4  # a reader-hogged pool: 0.5 s, then an error
        for i, box in enumerate(boxes):
            hub.unsubscribe(team_key(f"t{i}"), box)
