"""Kafka I/O for rulesets: publish an activation, read the history of ``tike.rules``, and
fetch recorded needs for dry-runs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

from rules.activation import Applied, Refusal, RulesetActivation, active, history
from rules.engine import Router
from streams.kafka_log import partitions_of, read_partition
from tike import topics
from tike.regions import Registry


async def publish(bootstrap: str, activation: RulesetActivation) -> int:
    """Append an activation to ``tike.rules``; return its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topics.RULES,
            activation.model_dump_json().encode(),
            key=activation.label.encode(),
            partition=0,
        )
        return int(meta.offset)
    finally:
        await producer.stop()


async def read_history(
    bootstrap: str, registry: Registry, fetch_wait_ms: int = 100
) -> list[Applied | Refusal]:
    if not await partitions_of(bootstrap, topics.RULES):
        return []
    records = await read_partition(bootstrap, topics.RULES, 0, 0, fetch_wait_ms=fetch_wait_ms)
    return history(((off, raw) for raw, _, off in records), registry)


async def active_router(bootstrap: str, registry: Registry) -> tuple[Router, str]:
    """The router in force, and where it came from."""
    applied = active(await read_history(bootstrap, registry))
    if applied is None:
        return Router.default(registry), "shipped default (tike.rules is empty)"
    return applied.router, f"tike.rules@{applied.offset}"


async def recorded_needs(bootstrap: str, since_s: float) -> list[dict[str, object]]:
    """Needs published on ``tike.needs`` in the last ``since_s`` seconds, oldest first."""
    since_ms = int((time.time() - since_s) * 1000)
    out: list[dict[str, object]] = []
    parts = await asyncio.gather(
        *(
            read_partition(bootstrap, topics.NEEDS, p, since_ms)
            for p in await partitions_of(bootstrap, topics.NEEDS)
        )
    )
    for records in parts:
        out.extend(orjson.loads(raw) for raw, _, _ in records)
    out.sort(key=lambda n: str(n.get("occurred_at")))
    return out


def new_activation(router: Router, comment: str, by: str) -> RulesetActivation:
    rs = router.ruleset
    return RulesetActivation(
        ruleset=rs.name,
        version=rs.version,
        checksum=rs.checksum,
        text=rs.text,
        comment=comment,
        activated_by=by,
        activated_at=datetime.now(UTC),
    )
