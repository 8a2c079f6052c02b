"""The situation agent: one place per region partition where needs are de-duplicated,
routed and dispatched, team actions and control-room actions applied, and time-outs and KPIs
checked. The logic is in :mod:`tike.situation.machine`.

Inputs (all keyed by region, co-partitioned): ``tike.intake`` (needs before
de-duplication), ``tike.team-state``, ``tike.calls`` and ``tike.region-commands`` (team
events, control actions, ticks). A need whose id the state already holds is a redelivery and
is dropped: the state is the de-duplication memory. Each input that changes anything gives one
record on ``tike.journal`` (same partition). The projector agent publishes each record's
outputs to ``tike.needs`` (each need once), ``tike.dispatches``, ``tike.board`` and
``tike.decisions``. On taking a partition the agent rebuilds its state from the newest
snapshot on ``tike.snapshots`` and the journal after it, and skips inputs the state already
holds, so a crash neither loses nor repeats a transition.
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
from streams.routing import RulesFollower
from streams.watchdog import Watchdog, highwaters_of
from tike import logs, topics
from tike.decode import Reason, Rejection
from tike.dedup import SeenNeeds
from tike.kafka_log import read_partition
from tike.situation import snapshot
from tike.situation.machine import Record, Situation, Timing, empty_state

log = logging.getLogger(__name__)
#: How long the projector remembers a need it published, in journal time (a journal record
#: is delivered again only from the last committed offset, a few seconds back).
PUBLISHED_MEMORY_S = 600.0
#: How far before the first journal record of a partition the projector looks for needs.
REPLAY_MARGIN_MS = 60_000
INPUTS = (topics.INTAKE, topics.TEAM_STATE, topics.CALLS, topics.REGION_COMMANDS)


class Partitions:
    """The situations this worker holds, one per partition, rebuilt when taken."""

    def __init__(self, ctx: StreamContext, router: Any, timing: Timing) -> None:
        self.ctx, self.router, self.timing = ctx, router, timing
        self.held: dict[int, Situation] = {}
        self.building: dict[int, asyncio.Task[Situation]] = {}
        self.generation = 0  # bumped when partitions are revoked: older rebuilds are stale
        self.since_snapshot: dict[int, int] = {}
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
        snaps = await read_partition(s.kafka_bootstrap, topics.SNAPSHOTS, partition, 0,
                                     fetch_wait_ms=s.fetch_wait_ms)  # fmt: skip
        found = snapshot.decode(raw for raw, _, _ in snaps)
        state, start = found if found is not None else (empty_state(), 0)
        records = await read_partition(
            s.kafka_bootstrap, topics.JOURNAL, partition, 0,
            fetch_wait_ms=s.fetch_wait_ms, start_offset=start,
        )  # fmt: skip
        sit = Situation(self.router, self.timing, state)
        for raw, _, _ in records:
            sit.apply(orjson.loads(raw))
        self.since_snapshot[partition] = len(records)
        metrics.REBUILD_SECONDS.observe(time.monotonic() - started)
        log.info("partition %d: situation rebuilt from %s + %d journal records (%d needs) in "
                 "%.2f s", partition, f"snapshot@{start}" if found else "no snapshot",
                 len(records), len(state["needs"]), time.monotonic() - started)  # fmt: skip
        return sit

    async def publish(self, partition: int, key: bytes, record: Record, sit: Situation) -> None:
        journal = self.ctx.topic(topics.JOURNAL)
        fut = await journal.send(key=key, value=orjson.dumps(record), partition=partition)
        metrics.JOURNAL_RECORDS.inc()
        self.since_snapshot[partition] = self.since_snapshot.get(partition, 0) + 1
        if self.since_snapshot[partition] >= self.ctx.settings.snapshot_every:
            self.since_snapshot[partition] = 0
            try:
                meta = await fut  # the snapshot describes the state up to this record
                chunks = snapshot.encode(partition, meta.offset + 1, record["at"], sit.state)
                for key_, value in chunks:
                    await self.ctx.topic(topics.SNAPSHOTS).send(
                        key=key_, value=value, partition=partition
                    )
                metrics.SNAPSHOTS.labels(str(partition)).inc()
            except Exception:  # snapshots only shorten rebuilds: never stop the region
                metrics.SNAPSHOT_FAILURES.inc()
                log.exception("snapshot of partition %d failed; the journal has it all", partition)


def register(ctx: StreamContext, follower: RulesFollower, watchdog: Watchdog) -> None:
    app, settings = ctx.app, ctx.settings
    timing = Timing(offer_timeout_s=settings.offer_timeouts, history_s=settings.need_history_s,
                    kpi_include_synthetic=settings.kpi_include_synthetic)  # fmt: skip

    def router() -> Router:
        return follower.router

    parts = Partitions(ctx, router, timing)
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

    def handle(sit: Situation, topic: str, value: dict[str, Any], cause: dict[str, Any]) -> Any:
        now = datetime.now(UTC)
        if topic == topics.INTAKE:
            started = time.perf_counter()
            record = sit.on_need(value, now, cause)
            metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
            return record
        if topic == topics.TEAM_STATE:
            return sit.on_team_state(value, now, cause)
        if topic == topics.CALLS:
            return sit.on_call(value, now, cause)
        kind = value.get("kind")
        if kind == "team_event":
            return sit.on_team_event(value, now, cause)
        if kind == "control_action":
            return sit.on_control(value, now, cause)
        if kind == "tick":
            return sit.on_tick(now, cause)
        raise ValueError(f"unknown region command kind {kind!r}")

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
                    log.info("ruleset %s decides from tike.intake[%d]@%d", label, partition,
                             msg.offset)  # fmt: skip
            cause = {"topic": topic, "partition": partition, "offset": msg.offset}
            try:
                value = orjson.loads(msg.value)
                logs.bind_from(value)
                again = sit.redelivered(topic, value)
            except Exception as exc:  # not a JSON object: a bad record must not stop the region
                await reject(msg, exc)
                continue
            if again:
                metrics.REDELIVERED.labels(topic).inc()
                if topic == topics.INTAKE:
                    metrics.DUPLICATES.labels(str(value.get("region"))).inc()
                    log.info("duplicate need %s dropped", value.get("need_id"))
                watchdog.processed(topic, partition, msg.offset)
                continue
            async with parts.lock(partition):
                try:
                    record = handle(sit, topic, value, cause)
                except Exception as exc:  # a bad record or a bug must not stop the region
                    await reject(msg, exc)
                    continue
                if record is not None:
                    await parts.publish(partition, msg.key or b"", record, sit)
            watchdog.processed(topic, partition, msg.offset)

    async def reject(msg: Any, exc: Exception) -> None:
        topic, partition = msg.topic, msg.partition
        log.exception("cannot apply %s[%d]@%d", topic, partition, msg.offset)
        raw = RawRecord(topic, partition, msg.offset, msg.key, msg.value)
        why = f"situation: {type(exc).__name__}: {exc}"
        await on_error(raw, Rejection(Reason.INTERNAL_ERROR, why))
        watchdog.processed(topic, partition, msg.offset)

    app.agent(app.topic(*INPUTS, key_type=bytes, value_type=bytes, key_serializer="raw",
                        value_serializer="raw"),
              name="tike.situation")(watchdog.guard("tike.situation", situation))  # fmt: skip

    published = SeenNeeds(retention_s=PUBLISHED_MEMORY_S)
    #: Per journal partition: the time from which its published needs are loaded (ms).
    published_since: dict[int, int] = {}
    loading: dict[int, asyncio.Task[None]] = {}
    checked: set[int] = set()  # partitions whose published needs reach back far enough

    async def on_revoked_project(sender: Any, revoked: Any, **kwargs: Any) -> None:
        published.forget()
        published_since.clear()
        loading.clear()
        checked.clear()

    async def on_assigned_project(sender: Any, assigned: Any, **kwargs: Any) -> None:
        since = int((time.time() - PUBLISHED_MEMORY_S) * 1000)
        for tp in assigned:
            if tp.topic == topics.JOURNAL:  # warm, so the first record need not wait
                loading[tp.partition] = asyncio.ensure_future(load_published(tp.partition, since))

    app.on_partitions_revoked.connect(on_revoked_project)
    app.on_partitions_assigned.connect(on_assigned_project)

    async def load_published(partition: int, since_ms: int) -> None:
        """The needs already on ``tike.needs[partition]`` (co-partitioned with the journal)
        from ``since_ms`` on: a journal record delivered again after a crash or a refetch
        must not publish its need twice. Published and remembered are one fact."""
        wait = settings.fetch_wait_ms
        found = await read_partition(
            settings.kafka_bootstrap, topics.NEEDS, partition, since_ms, fetch_wait_ms=wait
        )
        published.load(partition, ((orjson.loads(v)["need_id"], ts / 1000) for v, ts, _ in found))
        published_since[partition] = since_ms

    async def ensure_published(partition: int, first_ms: int) -> None:
        """Loaded far enough back for a journal record written at ``first_ms``: every need
        of it or a later record was published after it was journaled; the margin covers
        earlier records that a refetch delivers later."""
        task = loading.pop(partition, None)
        if task is not None:
            await task
        since = first_ms - REPLAY_MARGIN_MS
        if published_since.get(partition, since + 1) > since:
            await load_published(partition, since)

    async def project(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            metrics.EVENTS_IN.labels(topics.JOURNAL).inc()
            partition = msg.partition
            if partition not in checked:
                await ensure_published(partition, int(msg.timestamp * 1000))  # Faust: seconds
                checked.add(partition)
            # Journal time, not wall time: after a long stop the replayed records are old, and
            # the needs published just before the stop must still be remembered for them.
            published.expire(partition, msg.timestamp)
            record = orjson.loads(msg.value)
            for out in record["outputs"]:
                value = out["value"]
                if out["topic"] == topics.NEEDS:
                    if (partition, value["need_id"]) in published:
                        metrics.DUPLICATES.labels(value["region"]).inc()
                        continue
                    published.add(partition, value["need_id"], msg.timestamp)
                if value.get("kind") == "dispatch_refusal":
                    metrics.REFUSED_ACTIONS.inc()
                elif value.get("kind") == "board_delta" and value["entity"] == "kpi":
                    if ":" not in value["id"] and value["data"]:  # the region, not a municipality
                        metrics.observe_kpis(value["id"], value["data"])
                elif out["topic"] == topics.NEEDS:
                    metrics.NEEDS.labels(value["region"], str(value.get("source"))).inc()
                elif value.get("kind") == "routing_decision":
                    metrics.DECISIONS.labels(value.get("service") or "control_room",
                                             value.get("rule_id") or "none").inc()  # fmt: skip
                await ctx.send(out["topic"], out["key"].encode(), orjson.dumps(value))
            watchdog.processed(topics.JOURNAL, msg.partition, msg.offset)

    app.agent(ctx.topic(topics.JOURNAL), name="tike.project")(
        watchdog.guard("tike.project", project)
    )

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
                record = sit.on_tick(now, None)
                if record is not None:
                    await parts.publish(partition, b"tick", record, sit)

    app.timer(settings.tick_interval_s, name="tike.tick")(tick)
