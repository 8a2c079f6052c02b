"""The situation agent: one place per region partition where needs are de-duplicated,
routed and dispatched, team actions and control-room actions applied, and time-outs and KPIs
checked. The logic is in :mod:`tike_core.situation.machine`.

Inputs (all keyed by region, co-partitioned): ``tike.intake`` (needs before
de-duplication), ``tike.team-state``, ``tike.calls`` and ``tike.region-commands`` (team
events and control actions). A need whose id the state already holds is a redelivery and is
dropped: the state is the de-duplication memory. Each input that changes anything gives one
record on ``tike.journal`` (same partition), sent without waiting for its delivery. The
outputs that record lists go to ``tike.needs`` (each need once), ``tike.dispatches``,
``tike.board`` and ``tike.decisions`` as soon as it is on the broker, never before
(:mod:`streams.outbox`). On taking a partition the agent rebuilds its state from the newest
snapshot on ``tike.snapshots`` and the journal after it, sends again the outputs of journal
records that may not have been delivered (:mod:`tike_core.situation.resend`), and skips inputs the
state already holds, so a crash neither loses nor repeats a transition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from rules.engine import Router
from streams import metrics
from streams.context import StreamContext
from streams.errors import RawRecord
from streams.kafka_log import committed_offsets, read_partition
from streams.outbox import Outbox
from streams.routing import RulesFollower
from streams.watchdog import Watchdog, highwaters_of
from tike import logs, topics
from tike_core.decode import Reason, Rejection
from tike_core.situation import resend, snapshot
from tike_core.situation.machine import Record, Situation, Timing, empty_state
from tike_core.situation.stage import INPUTS, SituationStage

log = logging.getLogger(__name__)
#: How far before the first journal record to send again the rebuild looks on ``tike.needs``
#: for needs already published (a need is sent with its journal record, a moment apart).
REPLAY_MARGIN_MS = 60_000


class Partitions:
    """The situations this worker holds, one per partition, rebuilt when taken."""

    def __init__(self, ctx: StreamContext, router: Any, timing: Timing, outbox: Outbox) -> None:
        self.ctx, self.router, self.timing, self.outbox = ctx, router, timing, outbox
        self.held: dict[int, Situation] = {}
        self.building: dict[int, asyncio.Task[Situation]] = {}
        self.generation = 0  # bumped when partitions are revoked: older rebuilds are stale
        self.since_snapshot: dict[int, int] = {}
        self.snapshot_tasks: set[asyncio.Task[None]] = set()
        self.ruleset_in_force: dict[int, str] = {}
        #: Held from applying an input to its journal record being queued, so the timer's
        #: ticks and the agent's inputs reach the journal in the order they changed the state.
        self.locks: dict[int, asyncio.Lock] = {}

    def lock(self, partition: int) -> asyncio.Lock:
        found = self.locks.get(partition)
        if found is None:
            found = self.locks[partition] = asyncio.Lock()
        return found

    def warm(self, partition: int) -> asyncio.Task[Situation]:
        """Start rebuilding a partition now (on assignment), so its first input needn't wait."""
        task = self.building.get(partition)
        if task is None:
            task = asyncio.ensure_future(self.rebuild(partition))
            self.building[partition] = task
        return task

    def forget(self) -> None:
        self.generation += 1
        self.held.clear()
        self.building.clear()

    async def get(self, partition: int) -> Situation:
        while True:
            sit = self.held.get(partition)
            if sit is not None:
                return sit
            generation = self.generation
            built = await self.warm(partition)
            if generation == self.generation:
                self.building.pop(partition, None)
                self.held[partition] = built

    async def rebuild(self, partition: int) -> Situation:
        s = self.ctx.settings
        started = time.monotonic()
        snaps = await read_partition(
            s.kafka_bootstrap, topics.SNAPSHOTS, partition, 0, fetch_wait_ms=s.fetch_wait_ms
        )
        found = snapshot.decode(raw for raw, _, _ in snaps)
        state, start = found if found is not None else (empty_state(), 0)
        records = await read_partition(
            s.kafka_bootstrap,
            topics.JOURNAL,
            partition,
            0,
            fetch_wait_ms=s.fetch_wait_ms,
            start_offset=start,
        )
        sit = Situation(self.router, self.timing, state)
        tail: list[tuple[Record, int]] = []
        for raw, ts, _ in records:
            record = orjson.loads(raw)
            sit.apply(record)
            tail.append((record, ts))
        self.since_snapshot[partition] = len(records)
        resent = await self.resend(partition, tail)
        metrics.REBUILD_SECONDS.observe(time.monotonic() - started)
        log.info(
            "partition %d: situation rebuilt from %s + %d journal records (%d needs), "
            "%d outputs sent again, in %.2f s",
            partition,
            f"snapshot@{start}" if found else "no snapshot",
            len(records),
            len(state["needs"]),
            resent,
            time.monotonic() - started,
        )
        return sit

    async def resend(self, partition: int, tail: list[tuple[Record, int]]) -> int:
        """Send again the outputs of journal records that may not have been delivered (the
        worker that wrote them may have died before its producer sent them)."""
        if not tail:
            return 0
        s = self.ctx.settings
        inputs = [(topic, partition) for topic in INPUTS]
        try:
            committed = await committed_offsets(s.kafka_bootstrap, s.app_id, inputs)
        except Exception:  # then every record after the snapshot is sent again: copies only
            log.warning(
                "partition %d: committed offsets unknown; resending the journal tail",
                partition,
                exc_info=True,
            )
            committed = {}
        pending = resend.undelivered(tail, committed)
        if not pending:
            return 0
        published: set[str] = set()
        if resend.need_ids(r for r, _ in pending):
            since = min(ts for _, ts in pending) - REPLAY_MARGIN_MS
            found = await read_partition(
                s.kafka_bootstrap, topics.NEEDS, partition, since, fetch_wait_ms=s.fetch_wait_ms
            )
            published = {orjson.loads(v)["need_id"] for v, _, _ in found}
        outputs = resend.to_resend((r for r, _ in pending), published)
        for out in outputs:
            await self.ctx.send(out["topic"], out["key"].encode(), orjson.dumps(out["value"]))
        metrics.RESENT_OUTPUTS.inc(len(outputs))
        return len(outputs)

    async def publish(self, partition: int, key: bytes, record: Record, sit: Situation) -> None:
        """Send the journal record, unawaited; its outputs go when it is on the broker
        (streams/outbox.py)."""
        fut = await self.ctx.send(topics.JOURNAL, key, orjson.dumps(record), partition)
        metrics.JOURNAL_RECORDS.inc()
        outputs = []
        for out in record["outputs"]:
            value = out["value"]
            count_output(out["topic"], value)
            outputs.append((out["topic"], out["key"].encode(), orjson.dumps(value)))
        self.outbox.put(fut, outputs)
        self.since_snapshot[partition] = self.since_snapshot.get(partition, 0) + 1
        if self.since_snapshot[partition] >= self.ctx.settings.snapshot_every:
            self.since_snapshot[partition] = 0
            # The state up to this record, taken now; written in the background, so inputs
            # need not wait for the producer to drain.
            blob = snapshot.pack(sit.state)
            task = asyncio.ensure_future(self.write_snapshot(partition, fut, record["at"], blob))
            self.snapshot_tasks.add(task)
            task.add_done_callback(self.snapshot_tasks.discard)

    async def write_snapshot(self, partition: int, fut: Any, at: str, blob: bytes) -> None:
        try:
            # Everything before a snapshot is delivered, outputs included (the flush waits
            # for the outbox; tike_core.situation.resend relies on it).
            await self.ctx.app.producer.flush()
            meta = await fut
            for key, value in snapshot.records(partition, meta.offset + 1, at, blob):
                await self.ctx.send(topics.SNAPSHOTS, key, value, partition)
            metrics.SNAPSHOTS.labels(str(partition)).inc()
        except Exception:  # snapshots only shorten rebuilds: never stop the region
            metrics.SNAPSHOT_FAILURES.inc()
            log.exception("snapshot of partition %d failed; the journal has it all", partition)


def count_output(topic: str, value: dict[str, Any]) -> None:
    """The metrics of one output sent for the first time."""
    kind = value.get("kind")
    if topic == topics.NEEDS:
        metrics.NEEDS.labels(value["region"], str(value.get("source"))).inc()
    elif kind == "dispatch_refusal":
        metrics.REFUSED_ACTIONS.inc()
    elif kind == "board_delta" and value["entity"] == "kpi":
        if ":" not in value["id"] and value["data"]:  # the region, not a municipality
            metrics.observe_kpis(value["id"], value["data"])
    elif kind == "routing_decision":
        service = value.get("service") or "control_room"
        metrics.DECISIONS.labels(service, value.get("rule_id") or "none").inc()


def register(ctx: StreamContext, follower: RulesFollower, watchdog: Watchdog) -> None:
    app, settings = ctx.app, ctx.settings
    timing = Timing(
        offer_timeout_s=settings.offer_timeouts,
        history_s=settings.need_history_s,
        kpi_include_synthetic=settings.kpi_include_synthetic,
        kpi_interval_s=settings.kpi_interval_s,
    )

    def router() -> Router:
        return follower.router

    outbox = Outbox(ctx.send)
    app.tike_outbox = outbox
    parts = Partitions(ctx, router, timing, outbox)

    @app.task
    async def send_outputs() -> None:
        """The outbox's sender; if a journal record cannot be written, the worker's memory
        is ahead of its journal: stop, and let the rebuild start from the journal."""
        try:
            await outbox.start()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            watchdog.fatal(f"journal write failed: {type(exc).__name__}: {exc}")
            raise

    assert ctx.on_error is not None
    on_error = ctx.on_error

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        parts.forget()
        metrics.clear_situation()

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        for tp in assigned:
            if tp.topic == topics.INTAKE:
                parts.warm(tp.partition)

    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)

    def held(topic: str, partition: int) -> bool:
        return (topic, partition) in app.consumer.assignment()  # a set of TP namedtuples

    async def situation(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            topic, partition = msg.topic, msg.partition
            logs.start(record=f"{topic}[{partition}]@{msg.offset}")
            metrics.EVENTS_IN.labels(topic).inc()
            await follower.ready.wait()
            if not held(topic, partition):
                # Fetched before a rebalance moved the partition away: its new owner applies
                # it. Applying it here would fork the partition's journal. Faust acknowledges
                # it anyway; the consumer strikes that out (streams/transport.py).
                metrics.STALE_INPUTS.labels(topic).inc()
                app.consumer.unprocessed(msg.tp, msg.offset)
                continue
            sit = await parts.get(partition)
            if topic == topics.INTAKE:
                label = follower.router.ruleset.label
                if parts.ruleset_in_force.get(partition) != label:
                    parts.ruleset_in_force[partition] = label
                    log.info(
                        "ruleset %s decides from tike.intake[%d]@%d", label, partition, msg.offset
                    )
            cause = {"topic": topic, "partition": partition, "offset": msg.offset}
            async with parts.lock(partition):
                step = SituationStage(sit)(topic, msg.value, cause, datetime.now(UTC))
                if step.record is not None:
                    await parts.publish(partition, msg.key or b"", step.record, sit)
            if step.decide_s is not None:
                metrics.DECISION_SECONDS.observe(step.decide_s)
            if step.error is not None:
                await reject(msg, step.error)
                continue
            if step.duplicate:
                value = step.value or {}
                metrics.REDELIVERED.labels(topic).inc()
                if topic == topics.INTAKE:
                    metrics.DUPLICATES.labels(str(value.get("region"))).inc()
                    log.info("duplicate need %s dropped", value.get("need_id"))
            watchdog.processed(topic, partition, msg.offset)

    async def reject(msg: Any, exc: BaseException) -> None:
        topic, partition = msg.topic, msg.partition
        log.error("cannot apply %s[%d]@%d", topic, partition, msg.offset, exc_info=exc)
        raw = RawRecord(topic, partition, msg.offset, msg.key, msg.value)
        why = f"situation: {type(exc).__name__}: {exc}"
        await on_error(raw, Rejection(Reason.INTERNAL_ERROR, why))
        watchdog.processed(topic, partition, msg.offset)

    app.agent(
        app.topic(
            *INPUTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        ),
        name="tike.situation",
    )(watchdog.guard("tike.situation", situation))

    async def tick() -> None:
        """Offer time-outs, SLAs and KPIs of every partition this worker holds, in process.

        A tick is not an input record: it goes through no topic, so an idle worker fetches
        nothing and its consumer can wait long (streams/fetch_wait.py). Its effects are
        journaled like an input's, under the partition's lock."""
        watchdog.beat()
        watchdog.check_partitions(highwaters_of(app.consumer))
        now = datetime.now(UTC)
        for partition, sit in list(parts.held.items()):
            if not held(topics.INTAKE, partition):
                continue
            async with parts.lock(partition):
                if parts.held.get(partition) is not sit:  # revoked or rebuilt meanwhile
                    continue
                record = SituationStage(sit).tick(now)
                if record is not None:
                    await parts.publish(partition, b"tick", record, sit)

    app.timer(settings.tick_interval_s, name="tike.tick")(tick)
