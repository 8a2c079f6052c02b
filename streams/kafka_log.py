"""Read a partition of a topic from a point in time up to its end (or up to a second time).

The end is the Fetch response's high watermark, which is right on every broker; the embedded
Tansu broker answers ListOffsets(latest) and offset-for-time look-ups wrongly (docs/embedded.md),
so a time look-up that finds nothing useful falls back to the beginning, and records are
filtered by their own timestamps either way. For an upper bound, reading stops early only at
a record that is at or after the offset the broker named and really is later than the bound;
otherwise it reads up to the high watermark.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def read_partition(
    bootstrap: str,
    topic: str,
    partition: int,
    since_ms: int,
    fetch_wait_ms: int = 100,
    timeout_s: float = 60.0,
    start_offset: int | None = None,
    until_ms: int | None = None,
) -> list[tuple[bytes, int, int]]:
    """Return ``(value, timestamp_ms, offset)`` of the records at or after ``since_ms``
    (and at or before ``until_ms``)."""
    records = await read_records(
        bootstrap, topic, partition, since_ms, fetch_wait_ms, timeout_s, start_offset, until_ms
    )
    return [(r.value, r.timestamp, r.offset) for r in records]


async def read_records(
    bootstrap: str,
    topic: str,
    partition: int,
    since_ms: int,
    fetch_wait_ms: int = 100,
    timeout_s: float = 60.0,
    start_offset: int | None = None,
    until_ms: int | None = None,
) -> list[Any]:
    """The aiokafka ``ConsumerRecord`` s (key, value, timestamp, offset) with a timestamp at
    or after ``since_ms`` and, if given, at or before ``until_ms``; tombstones left out."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_wait_ms,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    tp = TopicPartition(topic, partition)
    out: list[Any] = []
    try:
        consumer.assign([tp])
        found = None
        if start_offset is None and since_ms > 0:
            found = (await consumer.offsets_for_times({tp: since_ms})).get(tp)
        stop_at = None  # the first offset after ``until_ms``, where the broker knows it
        if until_ms is not None:
            after = (await consumer.offsets_for_times({tp: until_ms + 1})).get(tp)
            if after is not None and after.timestamp > until_ms:
                stop_at = after.offset
        if start_offset is not None:
            consumer.seek(tp, start_offset)
        elif found is not None and found.timestamp >= since_ms:
            consumer.seek(tp, found.offset)
        else:
            await consumer.seek_to_beginning(tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            batch = await consumer.getmany(tp, timeout_ms=200)
            for msg in batch.get(tp, []):
                if stop_at is not None and msg.offset >= stop_at and msg.timestamp > until_ms:
                    return out  # checked: Tansu answers offset 0 to every time look-up
                if msg.timestamp < since_ms or msg.value is None:
                    continue
                if until_ms is None or msg.timestamp <= until_ms:
                    out.append(msg)
            highwater = consumer.highwater(tp)
            if highwater is not None and await consumer.position(tp) >= highwater:
                return out
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic}[{partition}] took over {timeout_s} s")
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of ``topic`` (empty if it does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


async def committed_offsets(
    bootstrap: str, group_id: str, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The consumer group's committed offsets (the next offset it reads) of ``partitions``;
    partitions without a committed offset are left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(
            group_id, partitions=[TopicPartition(t, p) for t, p in partitions]
        )
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}
