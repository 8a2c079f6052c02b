"""Projects Kafka outputs into Redis: board deltas, dispatches, device health, dead letters
and the audit log.

One gateway process at a time holds the lease (``tike:projector:lease``) and projects; the
others stand by and take over within a lease period. Positions live in Redis next to the
data, written by the same script, so a crash neither loses nor repeats a record. If Redis
loses its data (the epoch is gone), the projection is rebuilt from the start of the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from gateway import metrics
from gateway.store import ENTITIES, LEASE, Store
from streams import compat
from streams.fetch_wait import FetchWait
from tike import topics
from tike.events import entity_id
from tike.settings import GatewaySettings

log = logging.getLogger(__name__)

PROJECTED = (topics.BOARD, topics.DISPATCHES, topics.DEVICE_HEALTH, topics.DEADLETTER, topics.AUDIT)
ACTIVE_DISPATCH = frozenset({"requested", "received", "accepted", "in-progress"})
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
LIVE_S = 60.0  # records older than this are a rebuild, not live traffic, for the latency metric


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        return (
            datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))
        ).total_seconds()
    except (ValueError, TypeError):  # unparsable, or naive against aware
        return None


def items_of(topic: str, value: bytes | None, live: bool) -> list[tuple[str, ...]]:
    """The apply-script items for one record (empty if there is nothing to project)."""
    if value is None:
        return []
    doc = orjson.loads(value)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if topic == topics.BOARD:
        entity_id(doc["region"], "region")
        if doc["entity"] not in ENTITIES:
            raise ValueError(f"unknown board entity {doc['entity']!r}")
        entity_key = f"{doc['entity']}:{doc['id']}"
        data = doc.get("data") or {}
        if live and doc["entity"] == "need" and doc["version"] == 1 and data.get("occurred_at"):
            took = _seconds_between(data["occurred_at"], data.get("received_at"))
            if took is not None:
                metrics.DECISION_LATENCY.observe(max(took, 0.0))
        return [
            (
                "board",
                doc["region"],
                entity_key,
                str(int(doc["version"])),
                doc["op"],
                value.decode(),
            )
        ]
    if topic == topics.DISPATCHES:
        entity_id(doc["team_id"], "team id")
        if doc.get("kind") == "dispatch":
            entity_id(doc["dispatch_id"], "dispatch id")
            keep = "keep" if doc["status"] in ACTIVE_DISPATCH else "drop"
            return [
                (
                    "dispatch",
                    doc["team_id"],
                    doc["dispatch_id"],
                    str(int(doc["version"])),
                    keep,
                    value.decode(),
                )
            ]
        # A refusal (kind dispatch_refusal) names its dispatch: kept in the team's snapshot.
        dispatch_id = str(doc.get("dispatch_id") or "")
        return [("note", str(doc["team_id"]), dispatch_id, "0", "", value.decode())]
    if topic == topics.DEVICE_HEALTH:
        return [("device", doc["device_id"], "", "0", "", value.decode())]
    if topic == topics.DEADLETTER:
        fields = ("reason", "detail", "topic", "partition", "offset", "size", "received_at")
        summary = orjson.dumps({k: doc.get(k) for k in fields}).decode()
        return [("deadletter", str(doc.get("reason")), "", "0", "", summary)]
    if topic == topics.AUDIT:
        return [("audit", "", "", "0", "", value.decode())]
    return []


def unprojectable(topic: str, partition: int, offset: int, exc: Exception) -> tuple[str, ...]:
    """The apply-script item that counts a record the projector cannot use (a dead letter
    with reason ``unprojectable`` in the board's dead-letter counts), so it is skipped once
    and never stalls the projection."""
    summary = {
        "reason": "unprojectable",
        "detail": f"{type(exc).__name__}: {exc}"[:300],
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    return ("deadletter", "unprojectable", "", "0", "", orjson.dumps(summary).decode())


TRANSIENT = (RedisError, KafkaError, OSError, TimeoutError)


def _shutting_down() -> bool:
    """True if the running task has been asked to stop (``Task.cancel()``): a CancelledError
    seen now is ours to obey. False for one that leaks out of a library while nobody
    cancelled this task (aiokafka 0.14's consumer stop raises one; see BoardProjection._stop)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


#: Pauses of the projector before a retry, doubling up to the second figure, by kind of
#: failure: ``transient`` (Redis, Kafka, network: logged as a warning) and ``unexpected``
#: (anything else, a leaked CancelledError included: logged with its traceback).
PAUSES = {"transient": (0.2, 5.0), "unexpected": (1.0, 10.0)}


class BoardProjection:
    def __init__(self, settings: GatewaySettings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.pauses: dict[str, tuple[float, float]] = dict(PAUSES)
        self.me = secrets.token_hex(8)
        self._renew = store.redis.register_script(RENEW)
        self.epoch: str | None = None
        self.active = False

    async def run(self) -> None:
        """Forever: hold the lease and project, or stand by.

        Every failure is logged and retried after a pause that grows while the failures go
        on (:data:`PAUSES`). Only the cancellation of this task, i.e. the gateway shutting
        down, ends it.
        """
        pause = {kind: first for kind, (first, _) in self.pauses.items()}
        while True:
            started = time.monotonic()
            failure: BaseException
            try:
                if await self._acquire():
                    await self._project()
                else:
                    await asyncio.sleep(self.settings.projector_lease_s / 3)
                continue
            except asyncio.CancelledError as exc:
                if _shutting_down():
                    raise
                failure = exc
            except Exception as exc:
                failure = exc
            finally:
                self._set_active(False)
            kind = "transient" if isinstance(failure, TRANSIENT) else "unexpected"
            first, most = self.pauses[kind]
            if time.monotonic() - started > most:  # it had been working: start small again
                pause[kind] = first
            wait = pause[kind]
            pause[kind] = min(wait * 2, most)
            metrics.PROJECTOR_FAILURES.labels(kind).inc()
            if kind == "transient":
                log.warning("projection paused: %s; retrying in %.1f s", failure, wait)
            else:
                log.error(
                    "projection failed (%s: %s); retrying in %.1f s",
                    type(failure).__name__,
                    failure,
                    wait,
                    exc_info=failure,
                )
            await asyncio.sleep(wait)

    def _set_active(self, active: bool) -> None:
        self.active = active
        metrics.PROJECTOR_ACTIVE.set(1 if active else 0)

    async def _acquire(self) -> bool:
        ttl_ms = int(self.settings.projector_lease_s * 1000)
        if await self.store.redis.set(LEASE, self.me, nx=True, px=ttl_ms):
            return True
        return bool(await self._renew(keys=[LEASE], args=[self.me, ttl_ms]))

    async def _holds(self) -> bool:
        ttl_ms = int(self.settings.projector_lease_s * 1000)
        return bool(await self._renew(keys=[LEASE], args=[self.me, ttl_ms]))

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer.topics()
        return [
            TopicPartition(topic, p)
            for topic in PROJECTED
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    async def _project(self) -> None:
        s = self.settings
        self.epoch = await self.store.start_epoch(secrets.token_hex(6))
        self._set_active(True)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            # A live reader of low-rate topics: a long poll keeps an idle gateway cheap; a
            # short one while records flow keeps the board quick (streams/fetch_wait.py).
            fetch_max_wait_ms=s.projection_idle_wait,
            auto_offset_reset="earliest",
        )
        waits = FetchWait(hot_ms=s.fetch_wait_ms, idle_ms=s.projection_idle_wait)
        try:
            await consumer.start()
            # aiokafka 0.14 creates a task as the last step of start(); a stop() before that
            # task has run once raises CancelledError out of stop(). Let it run.
            await asyncio.sleep(0)
            tps: list[TopicPartition] = []
            renewed = looked = 0.0
            while True:
                now = time.monotonic()
                if now - renewed > s.projector_lease_s / 3:
                    if not await self._holds():
                        log.warning("projection lease lost; standing by")
                        return
                    renewed = now
                if now - looked > 10.0 or not tps:
                    found = await self._partitions(consumer)
                    if found != tps:
                        tps = found
                        await self._assign(consumer, tps)
                    looked = now
                    if not tps:
                        await asyncio.sleep(0.5)
                        continue
                batch = await consumer.getmany(timeout_ms=200, max_records=1000)
                compat.set_fetch_wait(consumer, waits.after_fetch(bool(batch), time.monotonic()))
                for tp, msgs in batch.items():
                    if not await self._apply(tp, msgs):
                        await self._reset(consumer, tps)
                        break
                for tp in tps:
                    high = consumer.highwater(tp)
                    if high is not None:
                        lag = max(0, high - await consumer.position(tp))
                        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
        finally:
            await self._stop(consumer)

    async def _stop(self, consumer: AIOKafkaConsumer) -> None:
        """Stop the consumer. A CancelledError that is not this task's cancellation (aiokafka
        0.14 raises one when its coordinator task was cancelled before it ever ran) is logged
        rather than raised, so it neither ends the projector nor hides the error that brought
        us here; the parts of the consumer the aborted stop did not reach are closed."""
        try:
            await consumer.stop()
        except asyncio.CancelledError:
            if _shutting_down():
                raise
            log.error("stopping the Kafka consumer raised CancelledError", exc_info=True)
            # Private parts of the pinned aiokafka: what stop() closes after the coordinator.
            for part in (getattr(consumer, "_fetcher", None), getattr(consumer, "_client", None)):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await part.close()

    async def _assign(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        positions = await self.store.offsets()
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, positions.get(f"{tp.topic}:{tp.partition}", 0))
        log.info("projecting %d partitions from Kafka into Redis (epoch %s)", len(tps), self.epoch)

    async def _reset(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        metrics.PROJECTION_RESETS.inc()
        self.epoch = await self.store.start_epoch(secrets.token_hex(6))
        log.warning("Redis lost the projection; rebuilding from Kafka (epoch %s)", self.epoch)
        for tp in tps:
            consumer.seek(tp, 0)

    async def _apply(self, tp: TopicPartition, msgs: list[Any]) -> bool:
        """Apply one partition's batch; False if Redis lost the projection meanwhile."""
        assert self.epoch is not None
        now_ms = time.time() * 1000
        items: list[tuple[str, ...]] = []
        for msg in msgs:
            metrics.EVENTS_IN.labels(tp.topic).inc()
            try:
                items.extend(items_of(tp.topic, msg.value, now_ms - msg.timestamp < LIVE_S * 1000))
            except Exception as exc:  # a poison record is counted and skipped, never retried
                log.warning(
                    "cannot project %s[%d]@%d: %s",
                    tp.topic,
                    tp.partition,
                    msg.offset,
                    str(exc)[:300],
                )
                items.append(unprojectable(tp.topic, tp.partition, msg.offset, exc))
        position = f"{tp.topic}:{tp.partition}"
        applied = await self.store.apply(
            self.epoch,
            position,
            msgs[-1].offset + 1,
            items,
            self.settings.board_stream_maxlen,
            self.settings.team_stream_maxlen,
        )
        return applied >= 0
