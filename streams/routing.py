"""Follow ``tike.rules``: the ruleset in force is its newest valid record (the shipped
default until one exists). Each worker reads the topic to its end before it routes anything,
so after a restart it never routes with a stale ruleset. The situation agent logs the first
``tike.needs`` offset each ruleset decides in each partition, and every decision names its
ruleset and its need's partition and offset.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from rules.activation import Applied, apply
from rules.engine import Router
from streams import metrics
from streams.context import StreamContext
from streams.errors import RawRecord
from tike import topics
from tike.regions import Registry
from tike_core.decode import Reason, Rejection

log = logging.getLogger(__name__)
RULES_FETCH_WAIT_MS = 1000


class RulesFollower:
    """Follows ``tike.rules`` with its own consumer; ``router`` is the ruleset in force."""

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.router = Router.default(ctx.registry)
        self.source = "shipped default"
        self.ready = asyncio.Event()

    def _apply(self, raw: bytes, offset: int, registry: Registry) -> str | None:
        """Put a valid record in force (None); the reason a refused one was refused."""
        result = apply(raw, offset, registry)
        if isinstance(result, Applied):
            self.router = result.router
            self.source = f"tike.rules@{offset}"
            metrics.RULESET_INFO.clear()
            metrics.RULESET_INFO.labels(result.router.ruleset.label).set(1)
            log.info(
                "ruleset %s is in force (tike.rules@%d, by %s: %s)",
                result.activation.label,
                offset,
                result.activation.activated_by,
                result.activation.comment,
            )
            return None
        metrics.RULESETS_REFUSED.inc()
        log.error(
            "ruleset refused at tike.rules@%d, %s stays: %s",
            offset,
            self.router.ruleset.label,
            result.reason,
        )
        return result.reason

    async def run(self) -> None:
        settings = self.ctx.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            # Rulesets change a few times a day: a long poll costs nothing while idle, and an
            # activation is in force within a second.
            fetch_max_wait_ms=RULES_FETCH_WAIT_MS,
        )
        await consumer.start()
        tp = TopicPartition(topics.RULES, 0)
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for msg in batch.get(tp, []):
                    if msg.value is None:
                        continue
                    refused = self._apply(msg.value, msg.offset, self.ctx.registry)
                    if refused is not None:
                        await self._deadletter(msg, refused)
                if not self.ready.is_set():
                    highwater = consumer.highwater(tp)
                    if highwater is not None and await consumer.position(tp) >= highwater:
                        metrics.RULESET_INFO.labels(self.router.ruleset.label).set(1)
                        log.info("routing with %s (%s)", self.router.ruleset.label, self.source)
                        self.ready.set()
        finally:
            await consumer.stop()

    async def _deadletter(self, msg: Any, reason: str) -> None:
        assert self.ctx.on_error is not None
        record = RawRecord(topics.RULES, msg.partition, msg.offset, msg.key, msg.value)
        detail = f"ruleset refused, {self.router.ruleset.label} stays: {reason}"
        await self.ctx.on_error(record, Rejection(Reason.RULESET_REFUSED, detail))


def register(ctx: StreamContext) -> RulesFollower:
    """Follow ``tike.rules`` in a background task; the situation agent routes with it."""
    follower = RulesFollower(ctx)

    async def follow_rules() -> None:
        while True:
            try:
                await follower.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following tike.rules failed; retrying in 2 s")
                await asyncio.sleep(2)

    ctx.app.task(follow_rules)
    return follower
