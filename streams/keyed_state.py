"""Keyed agent state with a changelog Tike owns: a dict per partition, written through to a
compacted topic, rebuilt from it up to the **fetch high watermark** when a partition is taken.

This replaces a Faust table. Faust's table recovery stops at ``consumer.end_offsets()``
(ListOffsets), which the embedded broker answers wrongly after a multi-record batch
(docs/embedded.md), so a Faust table forced one record per producer batch on the whole worker.
Reading to the high watermark is exact on every broker, so the producer can batch.

Writes go out with the agent's other sends and are flushed before Faust commits the input's
offset, so a state change is never lost behind a committed input (at-least-once; applying an
observation twice gives the same state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

from tike.kafka_log import read_records

log = logging.getLogger(__name__)

#: ``(topic, key, value)`` -> None: how a change reaches the changelog (the agent's producer).
Send = Callable[[str, bytes, bytes], Awaitable[None]]


class KeyedState:
    """``key -> JSON value`` per partition of one changelog topic."""

    def __init__(self, bootstrap: str, changelog: str, send: Send, fetch_wait_ms: int) -> None:
        self.bootstrap, self.changelog, self._send = bootstrap, changelog, send
        self.fetch_wait_ms = fetch_wait_ms
        self.parts: dict[int, dict[str, Any]] = {}

    def loaded(self, partition: int) -> bool:
        return partition in self.parts

    async def load(self, partition: int) -> dict[str, Any]:
        """Rebuild ``partition`` from its changelog (the newest value per key)."""
        started = time.monotonic()
        records = await read_records(
            self.bootstrap, self.changelog, partition, 0, fetch_wait_ms=self.fetch_wait_ms
        )
        part = {(r.key or b"").decode(): orjson.loads(r.value) for r in records}
        self.parts[partition] = part
        took = time.monotonic() - started
        log.info(
            "%s[%d]: %d keys from %d records in %.2f s",
            self.changelog,
            partition,
            len(part),
            len(records),
            took,
        )
        return part

    async def part(self, partition: int) -> dict[str, Any]:
        found = self.parts.get(partition)
        return found if found is not None else await self.load(partition)

    async def put(self, partition: int, key: str, value: Any) -> None:
        (await self.part(partition))[key] = value
        await self._send(self.changelog, key.encode(), orjson.dumps(value))

    def forget(self) -> None:
        """Partitions were revoked: their next owner rebuilds them."""
        self.parts.clear()

    def items(self) -> Iterator[tuple[int, str, Any]]:
        for partition, part in list(self.parts.items()):
            for key, value in list(part.items()):
                yield partition, key, value
