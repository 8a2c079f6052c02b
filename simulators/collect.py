"""Collect a topic's records in the background, with their arrival times (tests, load tests)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass
class Received:
    value: bytes
    key: bytes | None
    partition: int
    offset: int
    at: float

    def json(self) -> Any:
        return orjson.loads(self.value)


@dataclass
class Collector:
    """Reads a topic from the beginning in the background and keeps every record."""

    bootstrap: str
    topic: str
    records: list[Received] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def start(self) -> Collector:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            fetch_max_wait_ms=5,
            enable_auto_commit=False,
        )
        await consumer.start()
        await consumer.topics()  # loads cluster metadata
        partitions = consumer.partitions_for_topic(self.topic) or {0}
        parts = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        async for msg in self._consumer:
            self.records.append(
                Received(msg.value, msg.key, msg.partition, msg.offset, time.monotonic())
            )

    async def wait(self, pred: Callable[[Any], bool], timeout: float = 15) -> Received:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for rec in self.records[seen:]:
                if pred(rec.json()):
                    return rec
            seen = len(self.records)
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no matching record on {self.topic} within {timeout} s")

    def matching(self, pred: Callable[[Any], bool]) -> list[Any]:
        return [r.json() for r in self.records if pred(r.json())]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()
