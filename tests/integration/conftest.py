from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tike_cli.harness import (
    Gateway,
    Worker,
    producer,
    start_broker,
    start_redis,
    worker_env,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def broker(logs: Path) -> Iterator[str]:
    child, bootstrap = start_broker(logs)
    yield bootstrap
    child.stop()


@pytest.fixture(scope="module")
def redis_url(logs: Path) -> Iterator[str]:
    child, url = start_redis(logs)
    yield url
    child.stop()


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    """Extra TIKE_* settings for this module's worker (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def worker(
    broker: str, redis_url: str, logs: Path, worker_extra: dict[str, str]
) -> Iterator[Worker]:
    env = worker_env(broker, redis_url, logs / "state", **worker_extra)
    w = Worker(env, logs / "worker.log")
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def gateway_extra() -> dict[str, str]:
    """Extra TIKE_* settings for this module's gateway (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def gateway(
    broker: str, redis_url: str, logs: Path, worker: Worker, gateway_extra: dict[str, str]
) -> Iterator[Gateway]:
    """A real gateway (uvicorn) process on this module's broker, Redis and worker."""
    gw = Gateway.create(broker, redis_url, logs / "gateway.log", **gateway_extra).start()
    yield gw
    gw.stop()


Send = Callable[..., Awaitable[None]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def send(broker: str) -> AsyncIterator[Send]:
    """Produce one record and wait for the broker's ack: ``send(topic, value, key=None)``."""
    prod = await producer(broker)

    async def _send(topic: str, value: bytes | dict[str, Any], key: bytes | None = None) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        await prod.send_and_wait(topic, raw, key=key)

    yield _send
    await prod.stop()
