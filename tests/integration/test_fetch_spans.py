"""The fetch spans (streams/compat.py, track_fetch_spans) against the real broker and the
pinned aiokafka: each hand-over reports exactly the offsets it covered, also across a seek,
and only for the consumer they were tracked on."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer.fetcher import FetchResult

from streams import compat
from streams.offsets import gaps
from tike_cli.harness import producer

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOPIC = "tike.test.spans"


async def _spans_of(consumer: AIOKafkaConsumer, tp: TopicPartition) -> tuple[list, list[int]]:
    spans: dict = {}
    token = compat.SINK.set(spans)
    try:
        batch = await consumer.getmany(tp, timeout_ms=2000, max_records=7)
    finally:
        compat.SINK.reset(token)
    return spans.get(tp, []), [r.offset for r in batch.get(tp, [])]


async def test_each_hand_over_reports_exactly_the_offsets_it_covered(broker: str) -> None:
    original = FetchResult.getall
    prod = await producer(broker)
    try:
        for i in range(30):
            await prod.send(TOPIC, f"r{i}".encode(), partition=0)
        await prod.flush()
    finally:
        await prod.stop()
    tp = TopicPartition(TOPIC, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    other = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    await consumer.start()
    await other.start()
    try:
        compat.track_fetch_spans(consumer)
        compat.track_fetch_spans(consumer)  # idempotent
        assert FetchResult.getall is original  # no process-wide patch
        consumer.assign([tp])
        consumer.seek(tp, 0)
        seen: list[int] = []
        covered: list[tuple[int, int]] = []
        while len(seen) < 30:
            spans, offsets = await _spans_of(consumer, tp)
            assert offsets, "nothing fetched"
            assert spans == [(offsets[0], offsets[-1] + 1)]
            assert gaps(spans, offsets) == []
            seen += offsets
            covered += spans
        assert seen == list(range(30))
        # A seek back: the next hand-over starts where the seek put the partition.
        consumer.seek(tp, 5)
        spans, offsets = await _spans_of(consumer, tp)
        assert offsets[0] == 5 and spans == [(5, offsets[-1] + 1)]
        # Without the sink nothing is reported, and records still flow.
        consumer.seek(tp, 0)
        batch = await consumer.getmany(tp, timeout_ms=2000, max_records=3)
        assert [r.offset for r in batch[tp]] == [0, 1, 2]
        # Another consumer in the process reports nothing, even while the sink is set.
        other.assign([tp])
        other.seek(tp, 0)
        spans, offsets = await _spans_of(other, tp)
        assert offsets and spans == []
    finally:
        await other.stop()
        await consumer.stop()
