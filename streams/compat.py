"""The worker consumer's seam into faust-streaming, mode and aiokafka internals.

Keeping every record around a restart (docs/dispatch.md, "Records lost around a restart")
needs Faust's consumer to behave differently in places it offers no public hook for. This
module is the only one that reads, writes or overrides a private name of those libraries;
:data:`PRIVATE_NAMES` lists each one, and tests/streams/test_compat.py fails when one
disappears. :func:`check_versions` refuses to start the worker on library versions the seam
was not verified with (:data:`VERIFIED_VERSIONS`), unless ``TIKE_ALLOW_UNVERIFIED_LIBRARIES``
is set. The decisions themselves (what may be committed, when to fetch again) are plain
functions in streams/offsets.py; streams/transport.py wires the two together.

What the seam does:

- :class:`WorkerConsumerThread` (Faust's aiokafka consumer thread): the configured fetch
  wait; the exact offset spans each fetch hands over (:func:`track_fetch_spans`, on this
  consumer's own fetcher only); partitions with no committed offset sought to the log start.
- :class:`SeamConsumer` (Faust's aiokafka consumer): Faust's fetch wait, commit, new-offset,
  gap and ack steps and its drain loop, each routed to a public-named method that the adapter
  (streams/transport.py) implements; and the reads and writes of Faust's commit bookkeeping
  the adapter needs, under Faust's ``ack_lock`` where Faust takes it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from functools import partial
from typing import Any, NamedTuple, cast

from aiokafka.consumer import fetcher as aiokafka_fetcher
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service
from mode.utils.futures import notify

from streams.fetch_wait import FetchWait
from streams.offsets import OffsetBook

log = logging.getLogger(__name__)


class PrivateName(NamedTuple):
    """A library internal the seam uses: ``name`` (``Class.attr`` or a module attribute) in
    ``module``, of the distribution ``library``. ``instance``: an attribute set on instances
    (in ``__init__`` and the like), not found on the class itself."""

    library: str
    module: str
    name: str
    instance: bool = False


_FAUST_DRV = "faust.transport.drivers.aiokafka"
_FAUST_CONSUMER = "faust.transport.consumer"
_KAFKA_CONSUMER = "aiokafka.consumer.consumer"
_KAFKA_FETCHER = "aiokafka.consumer.fetcher"
_KAFKA_STATE = "aiokafka.consumer.subscription_state"

#: Every private (or internal) name of faust-streaming, mode and aiokafka used here.
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    # faust-streaming: the consumer thread (overridden or called)
    PrivateName("faust-streaming", _FAUST_DRV, "AIOKafkaConsumerThread._create_worker_consumer"),
    PrivateName("faust-streaming", _FAUST_DRV, "AIOKafkaConsumerThread._fetch_records"),
    PrivateName("faust-streaming", _FAUST_DRV, "AIOKafkaConsumerThread._ensure_consumer"),
    PrivateName("faust-streaming", _FAUST_DRV, "AIOKafkaConsumerThread._consumer"),
    # faust-streaming: the consumer (overridden)
    PrivateName("faust-streaming", _FAUST_DRV, "Consumer._new_consumer_thread"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._wait_next_records"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._commit_offsets"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._new_offset"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._add_gap"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._drain_messages"),
    # faust-streaming: the consumer's commit bookkeeping (read and written)
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._committed_offset", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._acked", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._acked_index", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._n_acked"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._gap", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._read_offset", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._commit_every", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._unacked_messages", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._waiting_for_ack"),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "CONSUMER_FETCHING"),
    PrivateName("faust-streaming", "faust.types.tuples", "ack_lock"),
    # faust-streaming: read for the refetch warnings (consumer_state)
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._active_partitions", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._buffered_partitions", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "Consumer._paused_partitions", True),
    PrivateName("faust-streaming", _FAUST_CONSUMER, "ThreadDelegateConsumer._thread", True),
    PrivateName("faust-streaming", "faust.transport.conductor", "Conductor._tp_index", True),
    # mode-streaming
    PrivateName("mode-streaming", "mode.services", "Service._stopped", True),
    PrivateName("mode-streaming", "mode.utils.futures", "notify"),
    PrivateName(
        "mode-streaming",
        "mode.utils.queues",
        "FlowControlQueue._pending_pressure_drop_callbacks",
        True,
    ),
    # faust-streaming: the aiokafka producer behind Faust's, to warm its metadata
    PrivateName("faust-streaming", _FAUST_DRV, "Producer._ensure_producer"),
    # aiokafka: the fetch wait, and the spans a hand-over covers
    PrivateName("aiokafka", _KAFKA_CONSUMER, "AIOKafkaConsumer._fetch_max_wait_ms", True),
    PrivateName("aiokafka", _KAFKA_CONSUMER, "AIOKafkaConsumer._fetcher", True),
    PrivateName("aiokafka", _KAFKA_FETCHER, "Fetcher._records", True),
    PrivateName("aiokafka", _KAFKA_FETCHER, "Fetcher._fetch_max_wait_ms", True),
    PrivateName("aiokafka", _KAFKA_FETCHER, "FetchResult"),
    PrivateName("aiokafka", _KAFKA_FETCHER, "FetchResult.getall"),
    PrivateName("aiokafka", _KAFKA_FETCHER, "FetchResult._partition_records", True),
    PrivateName("aiokafka", _KAFKA_FETCHER, "FetchResult._topic_partition", True),
    PrivateName("aiokafka", _KAFKA_FETCHER, "PartitionRecords.next_fetch_offset", True),
    # aiokafka: read for the refetch warnings (consumer_state)
    PrivateName("aiokafka", _KAFKA_FETCHER, "Fetcher._in_flight", True),
    PrivateName("aiokafka", _KAFKA_CONSUMER, "AIOKafkaConsumer._subscription", True),
    PrivateName("aiokafka", _KAFKA_STATE, "SubscriptionState.subscription"),
    PrivateName("aiokafka", _KAFKA_STATE, "Subscription.assignment"),
    PrivateName("aiokafka", _KAFKA_STATE, "Assignment.state_value"),
    PrivateName("aiokafka", _KAFKA_STATE, "TopicPartitionState.position"),
    PrivateName("aiokafka", _KAFKA_STATE, "TopicPartitionState.has_valid_position"),
    PrivateName("aiokafka", _KAFKA_STATE, "TopicPartitionState.paused"),
)

#: The library versions this seam was verified with: the restart tests looped without a
#: loss (docs/dispatch.md) and every name above read in their source.
VERIFIED_VERSIONS: Mapping[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
}

#: The setting that lets the worker start on unverified versions.
OVERRIDE = "TIKE_ALLOW_UNVERIFIED_LIBRARIES"


def resolve(entry: PrivateName) -> Any:
    """The object ``entry`` names, or for an instance attribute the class that sets it.
    Raises AttributeError when the library no longer has it."""
    obj: Any = importlib.import_module(entry.module)
    *owners, attr = entry.name.split(".")
    for part in owners:
        obj = getattr(obj, part)
    if not entry.instance or hasattr(obj, attr):
        return getattr(obj, attr)
    # Set on instances: declared in a class body, or assigned as ``self.<attr> =``.
    assigned = re.compile(rf"\bself\.{re.escape(attr)}\s*(:[^=\n]*)?=(?!=)")
    for cls in inspect.getmro(obj):
        if attr in getattr(cls, "__annotations__", {}):
            return cls
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if assigned.search(source):
            return cls
    raise AttributeError(f"{entry.module}.{entry.name} is gone ({entry.library})")


def unverified_versions(
    version: Callable[[str], str] = importlib.metadata.version,
) -> list[tuple[str, str | None, str]]:
    """``(distribution, installed or None, verified)`` for each library whose installed
    version is not the one the seam was verified with."""
    out = []
    for dist, verified in VERIFIED_VERSIONS.items():
        try:
            installed: str | None = version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != verified:
            out.append((dist, installed, verified))
    return out


def check_versions(
    allow: bool, version: Callable[[str], str] = importlib.metadata.version
) -> str | None:
    """Why the worker must not start (a message naming the versions and the override), or
    None. With ``allow`` an unverified version is only logged."""
    mismatches = unverified_versions(version)
    if not mismatches:
        return None
    found = ", ".join(
        f"{dist} {installed or '(not installed)'} (verified: {verified})"
        for dist, installed, verified in mismatches
    )
    if allow:
        log.warning(
            "running on library versions the consumer seam was not verified with: %s (%s=true)",
            found,
            OVERRIDE,
        )
        return None
    return (
        f"the worker's consumer seam (streams/compat.py) uses internals of faust-streaming, "
        f"mode and aiokafka and was verified only with "
        f"{', '.join(f'{d} {v}' for d, v in VERIFIED_VERSIONS.items())}; installed: {found}. "
        f"Install the verified versions, or re-verify the seam (docs/dispatch.md, 'Records "
        f"lost around a restart') and update VERIFIED_VERSIONS, or set {OVERRIDE}=true to "
        f"start anyway at the risk of lost or repeated records."
    )


# -- exact fetch spans -------------------------------------------------------------------

#: Per partition, the ``(start, end)`` offset spans handed over while this is set.
SINK: ContextVar[dict[Any, list[tuple[int, int]]] | None] = ContextVar(
    "tike_fetch_spans", default=None
)


class Fetched(dict[Any, Any]):
    """A record map that also carries the spans its hand-over covered."""

    def __init__(self, records: Mapping[Any, Any], spans: dict[Any, list[tuple[int, int]]]):
        super().__init__(records)
        self.spans = spans


def _getall(result: Any, original: Callable[..., Any], max_records: int | None = None) -> Any:
    """``FetchResult.getall`` that reports the span it hands over while :data:`SINK` is set.

    aiokafka moves the position from where the batch starts to past its last record, control
    batch or aborted batch. Read from the batch, not the partition's position: Faust seeks
    from its own thread, so the position can move under this call. The batch's next offset
    moves only as this call iterates it, and is what getall then sets the position to; when
    check_assignment refuses the hand-over it does not move at all."""
    sink = SINK.get()
    batch = result._partition_records
    if sink is None or batch is None:
        return original(max_records)
    start = batch.next_fetch_offset
    records = original(max_records)
    end = batch.next_fetch_offset
    if end > start:
        sink.setdefault(result._topic_partition, []).append((start, end))
    return records


def _with_spans(value: Any) -> Any:
    # The fetcher tests ``type(result) is FetchResult``: the result keeps its class, and
    # only this instance's getall reports spans.
    if type(value) is aiokafka_fetcher.FetchResult and "getall" not in vars(value):
        value.getall = partial(_getall, value, value.getall)
    return value


class _SpanRecords(OrderedDict[Any, Any]):
    """A fetcher's ``_records``, whose fetch results report their spans."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _with_spans(value))


def track_fetch_spans(consumer: Any) -> None:
    """Make the fetch results of this started aiokafka consumer report their spans into
    :data:`SINK` (nothing is reported while it is unset). Only this consumer's fetcher is
    changed; idempotent."""
    fetcher = consumer._fetcher
    if fetcher is None or type(fetcher._records) is _SpanRecords:
        return
    records = _SpanRecords()
    for tp, value in fetcher._records.items():
        records[tp] = value
    fetcher._records = records


# -- the producer ------------------------------------------------------------------------


async def warm_producer(app: Any, topic_names: Iterable[str]) -> None:
    """Load the producer's metadata for ``topic_names`` now (aiokafka's public
    ``partitions_for``): the first record to a topic otherwise waits for a metadata round
    trip, one topic after another (measured: the first decision after start took 250 ms more
    than the next ones)."""
    producer = app.producer._ensure_producer()
    for name in topic_names:
        await producer.partitions_for(name)


def set_fetch_wait(consumer: Any, wait_ms: int) -> None:
    """The wait of a plain aiokafka consumer's next fetch request (its fetcher reads it each
    time it builds one; aiokafka has no public setter)."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        fetcher._fetch_max_wait_ms = wait_ms


# -- the consumer thread -----------------------------------------------------------------


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        policy: FetchWait | None = getattr(self.app, "tike_fetch_wait", None)
        if policy is not None:
            # Read by AIOKafkaConsumer.start() when it builds its Fetcher (Faust: 1500).
            consumer._fetch_max_wait_ms = policy.idle_ms
        return consumer

    def _set_fetch_wait(self, consumer: Any, got_records: bool) -> None:
        """Short waits while records flow, long ones when idle (streams/fetch_wait.py). The
        fetcher reads the wait each time it builds a request; this runs before it builds the
        next one (the hand-over just made is what wakes it)."""
        policy: FetchWait | None = getattr(self.app, "tike_fetch_wait", None)
        fetcher = getattr(consumer, "_fetcher", None)
        if policy is not None and fetcher is not None:
            fetcher._fetch_max_wait_ms = policy.after_fetch(got_records, time.monotonic())

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """Faust's fetch, plus the exact offset spans it handed over."""
        track_fetch_spans(consumer)  # once the consumer has its fetcher
        spans: dict[Any, list[tuple[int, int]]] = {}
        token = SINK.set(spans)
        try:
            records = await super()._fetch_records(
                consumer, active_partitions, timeout=timeout, max_records=max_records
            )
        finally:
            SINK.reset(token)
        self._set_fetch_wait(consumer, bool(records))
        return Fetched(records, spans)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_committed_or_start))

    async def _seek_committed_or_start(self) -> dict[Any, int | None]:
        """aiokafka seeks only partitions with a committed offset above 0 and leaves the
        others wherever the fetcher got to, past records handed over before the seek and
        then dropped (a flow suspension, a rebalance clearing the buffers). Those are moved
        back to the log start, as ``auto_offset_reset=earliest`` means. Returns the next
        offset to read per partition."""
        consumer = self._ensure_consumer()
        offsets: dict[Any, int | None] = dict(await consumer.seek_to_committed())
        acks_enabled_for = self.app.topics.acks_enabled_for  # stream topics, not changelogs
        fresh = [
            tp
            for tp, offset in offsets.items()
            if (offset is None or offset <= 0) and acks_enabled_for(tp.topic)
        ]
        if fresh and self.app.conf.consumer_auto_offset_reset == "earliest":
            starts = await consumer.beginning_offsets(fresh)
            for tp in fresh:
                consumer.seek(tp, starts[tp])
                offsets[tp] = starts[tp]
        return offsets


# -- the consumer ------------------------------------------------------------------------


class SeamConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with its private steps routed to the public-named methods
    below marked "adapter", which streams/transport.py implements."""

    book: OffsetBook[TP]

    def _new_consumer_thread(self) -> WorkerConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.book = OffsetBook()

    # -- adapter: implemented by streams/transport.py ------------------------------------

    async def fetched(self, tp: TP, spans: Collection[tuple[int, int]], offsets: list[int]) -> None:
        """A fetch covered ``spans`` of ``tp`` and handed over records at ``offsets``."""

    def committed_offsets(self, offsets: Mapping[TP, int], done: bool) -> None:
        """Faust committed ``offsets`` (``done``), or the broker refused."""

    def next_commit(self, tp: TP) -> int | None:
        """The offset to commit ``tp`` to, or None (Faust: :meth:`faust_next_commit`)."""
        return self.faust_next_commit(tp)

    def gap_found(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Offsets that hold no record (Faust calls this with jumps it guessed)."""

    def ack_counts(self, message: Any) -> bool:
        """Whether an acknowledgement counts toward the commit."""
        return True

    def acknowledged(self, message: Any) -> None:
        """An acknowledgement that counts, before Faust books it."""

    def ack_refused(self, message: Any) -> None:
        """An acknowledgement that does not count: the record must be fetched again."""

    async def tend(self) -> None:
        """Between fetches, while the flow is active: refetch what needs it."""

    def handed_over(self, tp: TP, offset: int, fresh: bool) -> None:
        """A record reached its stream (``fresh``: fetched since the last seek)."""

    def hand_over_lost(self, tp: TP, offset: int) -> None:
        """A record's hand-over lost the race against a flow suspension."""

    # -- Faust's commit bookkeeping, for the adapter -------------------------------------

    def committed(self, tp: TP) -> int | None:
        """The committed offset of ``tp`` (the next one to read), None before a commit."""
        return self._committed_offset[tp]

    def acked(self, tp: TP) -> list[int]:
        """The acknowledged offsets not yet committed (Faust's list; do not change it)."""
        return cast(list[int], self._acked.get(tp) or [])

    def known_gaps(self, tp: TP) -> list[tuple[int, int]]:
        """The ``[begin, end)`` intervals a commit may pass as holding no record."""
        gaps = self._gap.get(tp)
        return [(i.begin, i.end) for i in gaps] if gaps else []

    def add_known_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Let commits pass ``offset_from``-``offset_to`` (inclusive)."""
        gaps = self._gap[tp]
        gaps.addi(offset_from, offset_to + 1)
        gaps.merge_overlaps()

    def strike_acks(self, tp: TP, choose: Callable[[Collection[int]], Iterable[int]]) -> None:
        """Strike out the acknowledgements ``choose`` picks from those of ``tp``. Under
        Faust's ``ack_lock``: acknowledgements may come from other threads. (No waiter is
        notified: Faust notifies when an acknowledgement arrives, and its own commit takes
        acknowledgements off these lists without notifying.)"""
        with ack_lock:
            index = self._acked_index[tp]
            for offset in choose(index):
                index.discard(offset)
                self._acked[tp].remove(offset)

    def faust_next_commit(self, tp: TP) -> int | None:
        """Faust's own choice of the offset to commit (from its unbroken acknowledged run)."""
        return super()._new_offset(tp)

    # -- Faust's private steps, routed -----------------------------------------------------

    def ack(self, message: Any) -> bool:
        """Faust's ``ack``, or a refusal. Either way one step under Faust's ``ack_lock``
        (the ``acked`` test-and-set and the bookkeeping), and a refusal too wakes whoever
        waits for acknowledgements (``wait_empty``), as Faust's ``ack`` does: the record is
        no longer pending."""
        with ack_lock:
            if message.acked:
                return False
            if self.ack_counts(message):
                self.acknowledged(message)
                return bool(super().ack(message))
            message.acked = True
            self._unacked_messages.discard(message)
            try:
                self.ack_refused(message)
            finally:
                notify(self._waiting_for_ack)
            return False

    async def _wait_next_records(self, timeout: float) -> Any:
        records, active = await super()._wait_next_records(timeout)
        spans = getattr(records, "spans", {})
        for tp in set(records or ()) | set(spans):
            batch = (records or {}).get(tp) or []
            await self.fetched(tp, spans.get(tp, ()), [r.offset for r in batch])
        return records, active

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        done = bool(await super()._commit_offsets(offsets, start_new_transaction))
        self.committed_offsets(offsets, done)
        return done

    def _new_offset(self, tp: TP) -> int | None:
        return self.next_commit(tp)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gap_found(tp, offset_from, offset_to)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        """Faust's drain loop, with three changes. A record below the read offset is
        delivered again, not dropped as already read (at-least-once: every effect is
        idempotent). No gap is guessed from a jump between delivered offsets: a batch fetched
        around a concurrent seek, or dropped on the way, makes the same jump; the fetch
        reports real gaps (:meth:`fetched`). A record whose hand-over loses the race against
        a flow suspension (a rebalance or recovery must not wait for a full buffer) is
        reported (:meth:`hand_over_lost`) instead of forgotten."""
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        yield_every, num_since_yield = 100, 0
        book = self.book
        flow_active = self.app.flow_control.is_active
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                if not self.suspend_flow.is_set() and flow_active():
                    await self.tend()
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                batch_seeks: int | None = None
                if not self.should_stop:
                    async for tp, message in ait:
                        if batch_seeks is None:
                            batch_seeks = book.seeks
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        fresh = book.deliver(tp, offset, batch_seeks)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        handing = callback(message)
                        won = await self.wait_first(handing, self.suspend_flow.wait())
                        if handing in won.done:
                            set_read_offset(tp, offset)
                            self.handed_over(tp, offset, fresh)
                        else:
                            self.hand_over_lost(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def consumer_state(consumer: Any, tp: Any) -> str:
    """A Faust consumer's state of ``tp``, for the warnings when it is fetched again: whether
    Faust fetches it (active, paused, or held back while its stream buffer is full), what the
    aiokafka fetcher holds and where it stands, and how full the stream buffers are."""
    try:
        active = consumer._active_partitions
        parts = [
            f"active={active is not None and tp in active}",
            f"buffered={tp in consumer._buffered_partitions}",
            f"paused={tp in consumer._paused_partitions}",
            f"flow={consumer.app.flow_control.is_active()}",
        ]
        kafka = consumer._thread._consumer
        if kafka is not None:
            fetcher = kafka._fetcher
            held = fetcher._records.get(tp)
            state = kafka._subscription.subscription.assignment.state_value(tp)
            position = state.position if state.has_valid_position else None
            parts += [
                f"position={position}",
                f"fetcher_paused={state.paused}",
                f"fetched={type(held).__name__ if held is not None else None}",
                f"in_flight={len(fetcher._in_flight)}",
            ]
        for chan in consumer.app.topics._tp_index.get(tp, ()):
            queue = chan.queue
            parts.append(
                f"buffer={queue.qsize()}/{queue.maxsize}"
                f"+{len(queue._pending_pressure_drop_callbacks)}"
            )
        return " ".join(parts)
    except Exception as exc:  # a diagnostic must never stop the consumer
        return f"(state unknown: {exc!r})"


__all__ = [
    "OVERRIDE",
    "PRIVATE_NAMES",
    "SINK",
    "VERIFIED_VERSIONS",
    "Fetched",
    "PrivateName",
    "SeamConsumer",
    "WorkerConsumerThread",
    "check_versions",
    "consumer_state",
    "resolve",
    "track_fetch_spans",
    "unverified_versions",
]
