"""De-duplication: needs from ``tike.intake`` reach ``tike.needs`` once per need id.

Both topics are keyed by region with the same partition count, so intake partition *p* writes
to needs partition *p*. When the worker first handles *p* (at start and after every
rebalance) it reads what *p* of ``tike.needs`` already holds, back to twice
``dedup_window_s``. A need is remembered exactly when it is published, so neither a crash nor a
rebalance can lose or repeat one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from streams import metrics
from streams.context import StreamContext
from streams.errors import RawRecord
from tike import logs, topics
from tike.decode import Reason, Rejection
from tike.dedup import SeenNeeds
from tike.kafka_log import read_partition

log = logging.getLogger(__name__)


def register(ctx: StreamContext) -> None:
    app = ctx.app
    settings = ctx.settings
    seen = SeenNeeds(retention_s=2 * settings.dedup_window_s)
    assert ctx.on_error is not None
    on_error = ctx.on_error

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        seen.forget()

    app.on_partitions_revoked.connect(on_revoked)

    async def load(partition: int, now: float) -> None:
        since_ms = int((now - seen.retention_s) * 1000)
        started = time.monotonic()
        records = await read_partition(
            settings.kafka_bootstrap,
            topics.NEEDS,
            partition,
            since_ms,
            fetch_wait_ms=settings.fetch_wait_ms,
        )
        seen.load(partition, ((str(orjson.loads(v)["need_id"]), ts / 1000) for v, ts, _ in records))
        log.info(
            "needs partition %d: %d published ids loaded in %.2f s",
            partition,
            len(records),
            time.monotonic() - started,
        )

    async def dedup(stream: Any) -> None:
        async for event in ctx.events(stream):
            msg = event.message
            metrics.EVENTS_IN.labels(topics.INTAKE).inc()
            partition, now = msg.partition, time.time()
            if not seen.loaded(partition):
                await load(partition, now)
            seen.expire(partition, now)
            try:
                need = orjson.loads(msg.value)
                need_id, region = str(need["need_id"]), str(need["region"])
                logs.bind(need_id=need_id, region=region)
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                record = RawRecord(topics.INTAKE, partition, msg.offset, msg.key, msg.value)
                await on_error(record, Rejection(Reason.INVALID_FIELDS, f"intake: {exc!r}"))
                continue
            if (partition, need_id) in seen:
                metrics.DUPLICATES.labels(region).inc()
                log.info("duplicate need %s dropped", need_id)
                continue
            seen.add(partition, need_id, now)
            await ctx.send(topics.NEEDS, msg.key, msg.value)
            metrics.NEEDS.labels(region, str(need.get("source"))).inc()

    ctx.agent(topics.INTAKE, "tike.dedup")(dedup)
