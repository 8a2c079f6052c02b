"""Routing agents: keep team state, follow ``tike.rules``, and decide each need.

The ruleset in force is whatever the newest valid record of ``tike.rules`` says (the shipped
default until one exists). Each worker reads that topic to its end before it routes anything,
so after a restart it never routes with a stale ruleset. When a new ruleset takes over, the
worker logs the first ``tike.needs`` offset it decided with it in each partition; every
decision also carries its ruleset and its need's partition and offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from rules.activation import Applied, apply
from rules.engine import Router
from streams import metrics
from streams.context import StreamContext, encode
from streams.errors import RawRecord
from tike import topics
from tike.decode import Reason, Rejection
from tike.regions import Registry

log = logging.getLogger(__name__)


class RulesFollower:
    """Follows ``tike.rules`` with its own consumer; ``router`` is the ruleset in force."""

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.router = Router.default(ctx.registry)
        self.source = "shipped default"
        self.ready = asyncio.Event()

    def _apply(self, raw: bytes, offset: int, registry: Registry) -> Applied | None:
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
            return result
        metrics.RULESETS_REFUSED.inc()
        log.error("ruleset refused at tike.rules@%d, %s stays: %s", offset,
                  self.router.ruleset.label, result.reason)  # fmt: skip
        return None

    async def run(self) -> None:
        settings = self.ctx.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_wait_ms if settings.embedded else 500,
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
                    if self._apply(msg.value, msg.offset, self.ctx.registry) is None:
                        await self._deadletter(msg)
                if not self.ready.is_set():
                    highwater = consumer.highwater(tp)
                    if highwater is not None and await consumer.position(tp) >= highwater:
                        metrics.RULESET_INFO.labels(self.router.ruleset.label).set(1)
                        log.info("routing with %s (%s)", self.router.ruleset.label, self.source)
                        self.ready.set()
        finally:
            await consumer.stop()

    async def _deadletter(self, msg: Any) -> None:
        assert self.ctx.on_error is not None
        record = RawRecord(topics.RULES, msg.partition, msg.offset, msg.key, msg.value)
        await self.ctx.on_error(record, Rejection(Reason.INVALID_FIELDS, "ruleset refused"))


def register(ctx: StreamContext) -> RulesFollower:
    app = ctx.app
    teams = app.Table(
        "tike-teams",
        default=None,
        partitions=ctx.settings.topic_partitions,
        key_type=str,
        help="team id -> latest TeamState (region partitions)",
    )
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

    app.task(follow_rules)

    async def team_state(stream: Any) -> None:
        async for event in stream.events():
            metrics.EVENTS_IN.labels(topics.TEAM_STATE).inc()
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                state = orjson.loads(event.message.value)
                previous = teams.get(state["team_id"])
                if previous is None or previous["reported_at"] <= state["reported_at"]:
                    teams[state["team_id"]] = state

    app.agent(ctx.topic(topics.TEAM_STATE), name="tike.teams")(team_state)
    in_force: dict[int, str] = {}

    async def route(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            metrics.EVENTS_IN.labels(topics.NEEDS).inc()
            await follower.ready.wait()
            router = follower.router
            label = router.ruleset.label
            if in_force.get(msg.partition) != label:
                in_force[msg.partition] = label
                log.info(
                    "ruleset %s decides from tike.needs[%d]@%d", label, msg.partition, msg.offset
                )
            started = time.perf_counter()
            try:
                need = orjson.loads(msg.value)
                region = need["region"]
                local = [t for t in teams.values() if t and t.get("region") == region]
                decision = router.decide(
                    need, local, datetime.now(UTC), partition=msg.partition, offset=msg.offset
                )
            except Exception as exc:  # a bad record or a bug must not stop routing
                log.exception("cannot route tike.needs[%d]@%d", msg.partition, msg.offset)
                assert ctx.on_error is not None
                record = RawRecord(topics.NEEDS, msg.partition, msg.offset, msg.key, msg.value)
                await ctx.on_error(
                    record,
                    Rejection(Reason.INTERNAL_ERROR, f"routing: {type(exc).__name__}: {exc}"),
                )
                continue
            metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
            metrics.DECISIONS.labels(
                decision.service or "control_room", decision.rule_id or "none"
            ).inc()
            await ctx.send(topics.DECISIONS, msg.key, encode(decision))

    app.agent(ctx.topic(topics.NEEDS), name="tike.route")(route)
    return follower
