"""Revoked tokens as one gateway process knows them (gateway/revocations.py).

The watch logic is pure; the store round trip uses a real Redis server (valkey-server from
the wheel), as tests/gateway/test_app.py does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway import metrics
from gateway.revocations import Revocations
from gateway.store import REVOKED, Store
from tike_cli.embedded import free_port
from tike_cli.harness import start_redis

NOWHERE = "redis://127.0.0.1:1/0"


def _revocations(url: str = NOWHERE, interval_s: float = 1.0) -> Revocations:
    return Revocations(Store(aioredis.Redis.from_url(url)), interval_s)


async def test_update_wakes_only_the_sockets_of_revoked_tokens() -> None:
    r = _revocations()
    a1, a2, b = r.watch("a"), r.watch("a"), r.watch("b")
    assert a1 is a2 and r.watched == 2  # two sockets with one token share one event
    r.update({"a", "someone-else"})
    assert a1.is_set() and not b.is_set()
    r.update(set())  # a revocation that expired does not un-close anything
    assert a1.is_set()


async def test_a_token_already_known_revoked_is_set_at_once() -> None:
    r = _revocations()
    r.update({"a"})
    assert r.watch("a").is_set()


async def test_unwatch_counts_the_sockets_of_a_token() -> None:
    r = _revocations()
    first = r.watch("a")
    r.watch("a")
    r.unwatch("a")
    assert r.watched == 1 and r.watch("a") is first
    r.unwatch("a")
    r.unwatch("a")
    assert r.watched == 0
    r.unwatch("a")  # more than watched: harmless
    assert r.watch("a") is not first


async def test_a_failed_reload_keeps_the_known_ids_and_is_counted() -> None:
    r = _revocations(f"redis://127.0.0.1:{free_port()}/0", interval_s=0.05)
    r.update({"a"})
    before = metrics.REGISTRY.get_sample_value("tike_gateway_revocation_refresh_errors_total")
    task = asyncio.create_task(r.run())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = metrics.REGISTRY.get_sample_value("tike_gateway_revocation_refresh_errors_total")
    assert r.ids == {"a"} and (after or 0) > (before or 0)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    child, url = start_redis(tmp_path)
    client = aioredis.Redis.from_url(url)
    try:
        yield Store(client)
    finally:
        await client.aclose()
        child.stop()


async def test_revoked_ids_are_read_in_one_call_until_the_token_expires(store: Store) -> None:
    now = time.time()
    await store.revoke("live", now + 3600)
    await store.revoke("recent", now - 30)  # expired 30 s ago: kept for the grace minute
    assert await store.revoked_ids() == {"live", "recent"}
    assert await store.is_revoked("live") and not await store.is_revoked("other")
    ttl = await store.redis.ttl(f"{REVOKED}:live")
    assert 3600 + 60 - 5 <= ttl <= 3600 + 60
    # An entry past its time is not returned, and the next revocation removes it.
    await store.redis.zadd(REVOKED, {"old": now - 1})
    assert "old" not in await store.revoked_ids()
    await store.revoke("another", now + 60)
    assert await store.redis.zscore(REVOKED, "old") is None


async def test_reload_from_redis_wakes_the_socket(store: Store) -> None:
    r = Revocations(store, interval_s=0.05)
    event = r.watch("victim")
    task = asyncio.create_task(r.run())
    try:
        await asyncio.sleep(0.1)
        assert not event.is_set()
        await store.revoke("victim", time.time() + 600)
        await asyncio.wait_for(event.wait(), 1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
