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

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

from streams.kafka_log import read_records

log = logging.getLogger(__name__)

#: ``(topic, key, value)`` -> None: how a change reaches the changelog (the agent's producer).
Send = Callable[[str, bytes, bytes], Awaitable[None]]


class KeyedState:
    """``key -> JSON value`` per partition of one changelog topic."""

    def __init__(self, bootstrap: str, changelog: str, send: Send, fetch_wait_ms: int) -> None:
        self.bootstrap, self.changelog, self._send = bootstrap, changelog, send
        self.fetch_wait_ms = fetch_wait_ms
        self.parts: dict[int, dict[str, Any]] = {}
        #: The value last written to the changelog per key (what a rebuild would find).
        self.written: dict[int, dict[str, Any]] = {}
        self._loading: dict[int, asyncio.Task[dict[str, Any]]] = {}
        self._generation = 0  # bumped on revocation: a rebuild started before is stale

    def loaded(self, partition: int) -> bool:
        return partition in self.parts

    def warm(self, partition: int) -> asyncio.Task[dict[str, Any]]:
        """Start rebuilding ``partition`` now (on assignment), so its first record need not
        wait for the changelog read."""
        task = self._loading.get(partition)
        if task is None:
            task = asyncio.ensure_future(self._load(partition, self._generation))
            self._loading[partition] = task
        return task

    async def load(self, partition: int) -> dict[str, Any]:
        """Rebuild ``partition`` from its changelog (the newest value per key)."""
        return await self.warm(partition)

    async def _load(self, partition: int, generation: int) -> dict[str, Any]:
        started = time.monotonic()
        try:
            records = await read_records(
                self.bootstrap, self.changelog, partition, 0, fetch_wait_ms=self.fetch_wait_ms
            )
        finally:
            if generation == self._generation:
                self._loading.pop(partition, None)
        part = {(r.key or b"").decode(): orjson.loads(r.value) for r in records}
        if generation == self._generation:
            self.parts[partition] = part
            self.written[partition] = dict(part)
        took = time.monotonic() - started
        what = f"{self.changelog}[{partition}]"
        log.info("%s: %d keys from %d records in %.2f s", what, len(part), len(records), took)
        return part

    async def part(self, partition: int) -> dict[str, Any]:
        while True:
            found = self.parts.get(partition)
            if found is not None:
                return found
            generation = self._generation
            part = await self.warm(partition)
            if generation == self._generation:
                return part

    async def put(self, partition: int, key: str, value: Any, durable: bool = True) -> None:
        """Set ``key``; write it to the changelog unless ``durable`` is False (then a rebuild
        finds the value last written, :meth:`last_written`)."""
        (await self.part(partition))[key] = value
        if durable:
            self.written.setdefault(partition, {})[key] = value
            await self._send(self.changelog, key.encode(), orjson.dumps(value))

    def last_written(self, partition: int, key: str) -> Any:
        """The value of ``key`` on the changelog as far as this worker knows (None if none)."""
        return self.written.get(partition, {}).get(key)

    def forget(self) -> None:
        """Partitions were revoked: their next owner rebuilds them."""
        self._generation += 1
        self.parts.clear()
        self.written.clear()
        self._loading.clear()

    def items(self) -> Iterator[tuple[int, str, Any]]:
        for partition, part in list(self.parts.items()):
            for key, value in list(part.items()):
                yield partition, key, value
