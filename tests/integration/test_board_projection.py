"""The projector survives failures, against the real broker and a real Redis (no mocks).

The failure reproduced here is the one the websocket fan-out benchmark hit: Redis refused a
command at once ("Too many connections", the redis-py pool the gateway used to have) right
after the projector's Kafka consumer started. The consumer's stop then raised CancelledError
out of aiokafka 0.14, which used to end the projector task for good, silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from gateway.board_projection import BoardProjection
from gateway.store import Store
from tests.integration.conftest import Send
from tike import topics
from tike.settings import GatewaySettings
from tike_cli.gateway_client import notice, tag

pytestmark = pytest.mark.asyncio(loop_scope="module")
REGION = "etela-pohjanmaa"


def _settings(broker: str, redis_url: str) -> GatewaySettings:
    return GatewaySettings(
        kafka_bootstrap=broker,
        kafka_profile="embedded",
        redis_url=redis_url,
        projector_lease_s=2,
    )


@pytest_asyncio.fixture(loop_scope="module")
async def reader(redis_url: str) -> AsyncIterator[Store]:
    """A separate client, to look at what the projector wrote."""
    client = aioredis.Redis.from_url(redis_url)
    yield Store(client)
    await client.aclose()


async def _projected(store: Store, entity_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await store.entity(REGION, "notice", entity_id) is not None:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_projector_survives_redis_refusing_right_after_the_consumer_starts(
    broker: str, redis_url: str, send: Send, reader: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The pool type the gateway used to share (fails at once when exhausted), one connection.
    pool = aioredis.ConnectionPool.from_url(redis_url, max_connections=1)
    projector = BoardProjection(_settings(broker, redis_url), Store(aioredis.Redis.from_pool(pool)))
    projector.pauses = {"transient": (0.1, 0.5), "unexpected": (0.1, 0.5)}
    caplog.set_level(logging.WARNING, logger="gateway.board_projection")
    task = asyncio.create_task(projector.run())
    try:
        # `active` turns true just before the consumer starts; its start waits on the broker,
        # which is when this takes the pool's only connection: the lease renewal right after
        # the start is refused without a wait.
        deadline = time.monotonic() + 20
        while not projector.active:
            assert not task.done() and time.monotonic() < deadline
            await asyncio.sleep(0)
        held = await pool.get_connection()
        try:
            while projector.active:  # the renewal is refused and the consumer stopped
                assert time.monotonic() < deadline, "the lease renewal was not refused"
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # long enough for a retry or two to be refused too
        finally:
            await pool.release(held)
        assert not task.done(), f"the projector task ended: {task}"
        assert any("Too many connections" in r.getMessage() for r in caplog.records)
        # ... and it projects again by itself.
        entity_id = tag("projected")
        await send(topics.BOARD, notice(entity_id, text="projected"), key=REGION.encode())
        assert await _projected(reader, entity_id, timeout=20), "the projection did not resume"
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task  # the gateway's shutdown still ends it
        await pool.aclose()


async def test_a_consumer_stopped_right_after_its_start_is_closed_without_raising(
    broker: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka 0.14 raises CancelledError from a stop() right after start() (its coordinator
    task was cancelled before it ever ran); BoardProjection._stop logs it and closes the rest."""
    client = aioredis.Redis.from_url(redis_url)
    projector = BoardProjection(_settings(broker, redis_url), Store(client))
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await projector._stop(consumer)  # no await in between: the case aiokafka raises in
        kafka = consumer._client
        assert kafka._sync_task is None, "the Kafka client was not closed"
        assert not any(conn.connected() for conn in kafka._conns.values())
    finally:
        await client.aclose()
