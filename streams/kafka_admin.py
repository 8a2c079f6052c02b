"""Create Tike's topics with their partitions and configs (idempotent)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from tike.topics import TOPICS

log = logging.getLogger(__name__)


async def wait_for_broker(bootstrap: str, timeout: float = 30.0) -> None:
    """Wait until the broker answers metadata requests."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise TimeoutError(f"Kafka at {bootstrap} did not answer within {timeout:.0f} s: {last!r}")


async def ensure_topics(bootstrap: str, partitions: int, replication: int = 1) -> list[str]:
    """Create every topic in the registry that does not exist yet; return those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise ConnectionError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in TOPICS if t.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(
                name=t.name,
                num_partitions=t.partitions or partitions,
                replication_factor=replication,
                topic_configs=dict(t.configs),
            )
            for t in missing
        ]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            log.info("topics were created concurrently")
        return [t.name for t in missing]
    finally:
        await admin.close()
