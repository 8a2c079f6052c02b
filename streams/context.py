"""What every agent module receives: the app, settings, topics, regions and the error hook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from streams import metrics
from streams.errors import ErrorPolicy
from tike import logs
from tike.regions import Registry
from tike.settings import WorkerSettings
from tike_core.normalise import Emit


def encode(record: BaseModel) -> bytes:
    """Serialise an output record (pydantic's JSON encoder, UTC ISO-8601 times)."""
    return record.__pydantic_serializer__.to_json(record)


AgentFn = Callable[[Any], Awaitable[None]]


@dataclass
class StreamContext:
    app: Any  # faust.App
    settings: WorkerSettings
    registry: Registry
    topics: dict[str, Any] = field(default_factory=dict)
    on_error: ErrorPolicy | None = None

    def topic(self, name: str) -> Any:
        """The raw-bytes Faust topic object for ``name`` (created once)."""
        if name not in self.topics:
            self.topics[name] = self.app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.topic_partitions,
            )
        return self.topics[name]

    def agent(self, topic: str, name: str) -> Callable[[AgentFn], None]:
        """Register ``fn`` as the agent of ``topic``, guarded by the watchdog: its death or a
        stall on its partitions stops the worker (streams/watchdog.py)."""

        def register(fn: AgentFn) -> None:
            self.app.agent(self.topic(topic), name=name)(self.app.watchdog.guard(name, fn))

        return register

    async def events(self, stream: Any) -> AsyncIterator[Any]:
        """``stream.events()``, telling the watchdog when each event is done."""
        async for event in stream.events():
            msg = event.message
            logs.start(record=f"{msg.topic}[{msg.partition}]@{msg.offset}")
            yield event
            self.app.watchdog.processed(msg.topic, msg.partition, msg.offset)

    async def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> Any:
        """Queue a record on the app's producer and return its delivery future, unawaited:
        Faust flushes the producer before it commits offsets. The producer directly, not
        ``Topic.send``: Tike's topics exist before the worker starts, and Faust's per-message
        bookkeeping there cost about a tenth of the worker's time (docs/performance.md)."""
        fut = await self.app.producer.send(topic, key, value, partition, None, None)
        metrics.EVENTS_OUT.labels(topic).inc()
        return fut

    async def emit(self, item: Emit) -> None:
        await self.send(item.topic, item.key.encode(), encode(item.record))
