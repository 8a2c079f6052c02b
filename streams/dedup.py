"""De-duplication: needs from ``tike.intake`` reach ``tike.needs`` once per need id.

``tike.intake`` is keyed by region, so one partition holds all of a region's needs and the
table of seen ids lives beside them. Entries older than twice ``dedup_window_s`` are deleted
while processing an event of their own partition, so tombstones land on the right changelog
partition.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from streams import metrics
from streams.context import StreamContext
from streams.errors import RawRecord
from tike import topics
from tike.decode import Reason, Rejection
from tike.dedup import ExpiryIndex

log = logging.getLogger(__name__)


def register(ctx: StreamContext) -> None:
    app = ctx.app
    seen = app.Table(
        "tike-seen-needs",
        default=None,
        partitions=ctx.settings.topic_partitions,
        key_type=str,
        help="need id -> [partition, first seen epoch s]",
    )
    index = ExpiryIndex(retention_s=2 * ctx.settings.dedup_window_s)
    assert ctx.on_error is not None
    on_error = ctx.on_error

    async def dedup(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            metrics.EVENTS_IN.labels(topics.INTAKE).inc()
            partition = msg.partition
            now = time.time()
            if not index.known(partition):
                index.load(
                    partition,
                    ((k, float(v[1])) for k, v in list(seen.items()) if v and v[0] == partition),
                )
            for old in index.expired(partition, now):
                seen.pop(old, None)
            try:
                need = orjson.loads(msg.value)
                need_id, region = str(need["need_id"]), str(need["region"])
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                record = RawRecord(topics.INTAKE, partition, msg.offset, msg.key, msg.value)
                await on_error(record, Rejection(Reason.INVALID_FIELDS, f"intake: {exc!r}"))
                continue
            if need_id in seen:
                metrics.DUPLICATES.labels(region).inc()
                log.info("duplicate need %s dropped", need_id)
                continue
            seen[need_id] = [partition, now]
            index.note(partition, need_id, now)
            await ctx.send(topics.NEEDS, msg.key, msg.value)
            metrics.NEEDS.labels(region, str(need.get("source"))).inc()

    app.agent(ctx.topic(topics.INTAKE), name="tike.dedup")(dedup)
