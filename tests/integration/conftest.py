from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Worker, start_broker, start_redis, worker_env


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
