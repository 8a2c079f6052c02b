"""Faust transport: a configurable fetch wait, and a fix for records lost after a rebalance.

Fetch wait: Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for worker consumers. Apache
Kafka answers a long-poll fetch as soon as data arrives, so that is harmless there; the
embedded Tansu broker holds every fetch for the full wait (measured: latency = wait), so the
embedded profile needs a short wait. See docs/embedded.md.

Passed-over records (faust-streaming 0.15.3; docs/dispatch.md, "Records lost around a
restart"): around a rebalance or restart Faust can move a partition's fetch position past
records that no agent processed, and commit past them. Here: a record fetched again is
delivered again (no "already read" drop); a record whose hand-over loses the race against a
flow suspension, or that a stream skips during a rebalance (Faust acks those), is fetched
again; partitions with no committed offset are sought to the log start; a commit only covers
an unbroken run of processed records from the committed offset, where the only offsets counted
as holding no record are those the fetch itself reports so (streams/fetch_spans.py, not jumps
between delivered offsets as in Faust); and a partition whose commit
stays held at such a hole (``HOLE_GRACE_S``), or that makes no progress with records after its
committed offset (``STALL_GRACE_S``), is fetched again from there. Tike is at-least-once with
idempotent effects, so a redelivery costs a duplicate that is recognised, never a loss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service

from streams import fetch_spans
from streams.consumer_trace import ConsumerTrace, consumer_state

#: How long a partition's commit may wait for a passed-over record before it is fetched again.
HOLE_GRACE_S = 3.0
#: How long a partition with records after its committed offset may show no progress at all
#: (nothing delivered, nothing acknowledged) before it is fetched again from that offset.
STALL_GRACE_S = 10.0


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        fetch_spans.install()
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "tike_fetch_max_wait_ms", None)
        if wait is not None:
            # Read by AIOKafkaConsumer.start() when it builds its Fetcher.
            consumer._fetch_max_wait_ms = int(wait)
        return consumer

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """Faust's fetch, plus the exact offset spans it handed over (streams/fetch_spans.py)."""
        spans: dict[Any, list[tuple[int, int]]] = {}
        token = fetch_spans.SINK.set(spans)
        try:
            records = await super()._fetch_records(
                consumer, active_partitions, timeout=timeout, max_records=max_records
            )
        finally:
            fetch_spans.SINK.reset(token)
        return fetch_spans.Fetched(records, spans)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> dict[Any, int | None]:
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


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __post_init__(self) -> None:
        super().__post_init__()
        # The next offset to read per partition, set by the last seek to committed.
        self._floor: dict[TP, int] = {}
        # The last offset the drain loop delivered per partition since that seek.
        self._delivered: dict[TP, int] = {}
        self._seeks = 0
        # Holes: partitions whose commit waits for a record that was passed over while later
        # ones were processed: (the record's offset, when the hole was first seen).
        self._holes: dict[TP, tuple[int, float]] = {}
        # Per partition: the hole last fetched again, and how many times in a row.
        self._healed: dict[TP, tuple[int, int]] = {}
        # Per partition: what it had delivered, acknowledged and committed when last looked
        # at, and since when that has not changed.
        self._progress: dict[TP, tuple[tuple[Any, ...], float]] = {}
        # Records to fetch again (lowest offset per partition): handed over too late, or
        # skipped by a stream. Refetched once the flow resumes.
        self._abandoned: dict[TP, int] = {}
        # Records agents let go without processing them, whose acknowledgements must not count.
        self._unprocessed: dict[TP, set[int]] = {}
        # What happened to each partition's records lately, for the refetch warnings.
        self._trace = ConsumerTrace()

    async def _wait_next_records(self, timeout: float) -> Any:
        """Faust's wait for the next fetch. Offsets the fetch covered but that hold no record
        (compaction, transaction markers, aborted batches) are gaps: a commit may pass them.
        Nothing else is: a record that is fetched but not processed holds the commit."""
        records, active = await super()._wait_next_records(timeout)
        acks_enabled_for = self.app.topics.acks_enabled_for
        spans = getattr(records, "spans", {})
        for tp in set(records or ()) | set(spans):
            if not acks_enabled_for(tp.topic):
                continue
            batch = (records or {}).get(tp) or []
            covered = spans.get(tp, ())
            for start, end in covered:
                self._trace.add(tp, "fetched", start, f"to {end - 1}, {len(batch)} records")
            for first, last in fetch_spans.gaps(covered, [r.offset for r in batch]):
                await self._add_gap(tp, first, last)
        return records, active

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        done = bool(await super()._commit_offsets(offsets, start_new_transaction))
        for tp, offset in offsets.items():
            self._trace.add(tp, "committed", offset, "" if done else "refused")
        return done

    def ack(self, message: Any) -> bool:
        """Faust's streams skip a record they take from their buffer while the flow is
        suspended or after the generation changed (a rebalance), and then acknowledge it
        "so that lag does not grow": the commit moves past a record never processed, and
        unless a seek follows, nothing fetches it again. Such a record is fetched again
        instead. (A processed record acknowledged in that window is fetched again too: a
        redelivery, which every effect tolerates.) This is the pure-Python stream iterator;
        Faust's compiled one (used when its extensions are built) drops a skipped record
        without any acknowledgement and acknowledges processed ones without calling this, so
        there the hole and stall rules below fetch the skipped record again."""
        if message.acked:
            return False
        if self.app.flow_control.is_active() and (
            message.generation_id == self.app.consumer_generation_id
        ):
            self._trace.add(message.tp, "acked", message.offset)
            return bool(super().ack(message))
        message.acked = True
        self._unacked_messages.discard(message)
        self._trace.add(message.tp, "ack refused", message.offset,
                        f"flow={self.app.flow_control.is_active()} generation="
                        f"{message.generation_id}/{self.app.consumer_generation_id}")  # fmt: skip
        self._abandon(message.tp, message.offset)
        return False

    def _abandon(self, tp: TP, offset: int) -> None:
        """Fetch ``tp`` again from ``offset`` (or an earlier abandoned record) when the flow
        resumes."""
        self._abandoned[tp] = min(self._abandoned.get(tp, offset), offset)

    def _first_unprocessed(self, tp: TP) -> int | None:
        """The committed offset, or before the first commit the offset the last seek set."""
        committed = self._committed_offset[tp]
        return committed if committed is not None else self._floor.get(tp)

    def unprocessed(self, tp: TP, offset: int) -> None:
        """An agent let this record go without processing it (the situation agent's stale
        skip during a rebalance). Faust's compiled stream iterator acknowledges it anyway,
        without calling :meth:`ack`; that acknowledgement is struck out before the next
        commit, so should the partition come back, the commit waits for the record."""
        self._unprocessed.setdefault(tp, set()).add(offset)
        self._trace.add(tp, "let go unprocessed", offset)

    def _strike_unprocessed(self, tp: TP) -> None:
        pending = self._unprocessed.get(tp)
        if not pending:
            return
        committed = self._committed_offset[tp]
        with ack_lock:  # Faust's acknowledgements may come from other threads
            index = self._acked_index[tp]
            for offset in list(pending):
                if offset in index:
                    index.discard(offset)
                    self._acked[tp].remove(offset)
                    pending.discard(offset)
                elif committed is not None and offset < committed:
                    pending.discard(offset)  # its acknowledgement can no longer arrive
        if not pending:
            del self._unprocessed[tp]

    async def seek_to_committed(self) -> Mapping[TP, int]:
        offsets = await super().seek_to_committed()
        self._sought(offsets)
        return offsets

    def _sought(self, offsets: Mapping[TP, int | None]) -> None:
        """The bookkeeping of a seek to the committed offsets (the next offset per partition)."""
        self._seeks += 1
        for tp, offset in offsets.items():
            self._trace.add(tp, "sought to committed", offset, f"seek {self._seeks}")
            self._delivered.pop(tp, None)
            self._progress.pop(tp, None)
            if offset is not None and offset >= 0:
                self._floor[tp] = offset
            else:
                self._floor.pop(tp, None)

    def _new_offset(self, tp: TP) -> int | None:
        """Commit only from an unbroken run of acknowledged records. Faust lets the run
        start one record after the committed offset (and anywhere when nothing was
        committed yet), so a record dropped before processing was committed past."""
        self._strike_unprocessed(tp)
        acked = self._acked[tp]
        floor = self._first_unprocessed(tp)
        if acked and floor is not None and not self._covered(tp, floor, min(acked)):
            if self._holes.get(tp, (None, 0.0))[0] != floor:  # once per hole
                self._holes[tp] = (floor, monotonic())
                self.log.info("holding the commit of %s[%s] at %s: processed up from %s",
                              tp.topic, tp.partition, floor, min(acked))  # fmt: skip
            return None
        self._holes.pop(tp, None)
        return super()._new_offset(tp)

    def _covered(self, tp: TP, start: int, end: int) -> bool:
        """True when every offset in [start, end) is a known gap (nothing to process)."""
        for interval in sorted(self._gap[tp].overlap(start, end), key=lambda i: i.begin):
            if interval.begin > start:
                return False
            start = max(start, interval.end)
        return start >= end

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if self._record_gap(tp, offset_from, offset_to):
            self.log.info("%s[%s] %s-%s hold no records (compacted or transaction markers)",
                          tp.topic, tp.partition, offset_from, offset_to)  # fmt: skip

    def _record_gap(self, tp: TP, offset_from: int, offset_to: int, note: str = "") -> bool:
        """Let commits pass ``offset_from``-``offset_to``; False when all of it is committed
        already. (Faust clips at committed + 1, but the committed offset is the next one to
        read.)"""
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed)
        if offset_from > offset_to:
            return False
        self._trace.add(tp, "gap", offset_from, f"to {offset_to}{note}")
        self._gap[tp].addi(offset_from, offset_to + 1)
        self._gap[tp].merge_overlaps()
        return True

    def _describe(self, tp: TP) -> str:
        return consumer_state(self, tp) + "; history: " + self._trace.describe(tp)

    async def _heal(self) -> None:
        """Fetch again from every hole older than ``HOLE_GRACE_S``. Whatever passed the
        record over (a batch dropped when the flow or the generation changed mid-fetch,
        buffers cleared, a skip), the partition's fetch position had moved past it, and
        nothing would bring it back before a restart. Records after it come again too:
        redeliveries, which every effect tolerates. A hole that outlives its refetch may be
        below the log start (retention deleted the records before they were processed): the
        fetch then resets to the log start, and the hole is counted as a gap, with an error."""
        now = monotonic()
        assigned = self.assignment()
        for tp, (offset, since) in list(self._holes.items()):
            committed = self._committed_offset[tp]
            if tp not in assigned or (committed is not None and offset < committed):
                del self._holes[tp]  # gone, or committed past meanwhile (another owner)
            elif now - since >= HOLE_GRACE_S:
                self._holes[tp] = (offset, now)  # give the refetch its own grace
                healed = self._healed.get(tp)
                self._healed[tp] = (offset, healed[1] + 1 if healed and healed[0] == offset else 1)
                if self._healed[tp][1] > 1 and self._expired(tp, offset, await self._log_start(tp)):
                    continue
                self.log.warning("fetching %s[%s] again from %s: passed over, later records "
                                 "were processed [%s]", tp.topic, tp.partition, offset,
                                 self._describe(tp))  # fmt: skip
                self._trace.add(tp, "sought", offset, "passed over")
                await self.seek(tp, offset)

    async def _log_start(self, tp: TP) -> int | None:
        try:
            return (await self.earliest_offsets(tp)).get(tp)
        except Exception as exc:  # the next heal asks again
            self.log.warning("cannot read the log start of %s[%s]: %r", tp.topic, tp.partition, exc)
            return None

    def _expired(self, tp: TP, offset: int, start: int | None) -> bool:
        """Count ``offset`` up to the log start as a gap when retention has deleted it."""
        if start is None or start <= offset:
            return False
        self.log.error("%s[%s] %s-%s were deleted by retention before they were processed",
                       tp.topic, tp.partition, offset, start - 1)  # fmt: skip
        self._record_gap(tp, offset, start - 1, ", deleted by retention")
        self._holes.pop(tp, None)
        return True

    async def _unstall(self) -> None:
        """A partition's last records can be passed over with nothing after them, so no
        hole shows. A partition that has records after its committed offset (by the fetch
        high watermark) but has delivered, acknowledged and committed nothing new for
        ``STALL_GRACE_S`` is fetched again from that offset. (Progress is read from the
        bookkeeping, not from ``ack()``: Faust's compiled stream iterator acknowledges
        records without calling it.)"""
        now = monotonic()
        for tp in self.assignment():
            if not self.app.topics.acks_enabled_for(tp.topic) or tp in self._holes:
                continue
            acked = self._acked.get(tp)
            mark = (self._delivered.get(tp), self._committed_offset.get(tp),
                    len(acked) if acked else 0, acked[-1] if acked else None)  # fmt: skip
            seen = self._progress.get(tp)
            if seen is None or seen[0] != mark:
                self._progress[tp] = (mark, now)
                continue
            if now - seen[1] < STALL_GRACE_S:
                continue
            start = self._first_unprocessed(tp)
            end = self.highwater(tp)
            # (Offsets known to hold no record, such as a trailing transaction marker, are
            # not waiting records.)
            if start is not None and end is not None and not self._covered(tp, start, end):
                self._progress[tp] = (mark, now)  # give the refetch its own grace
                self.log.warning("fetching %s[%s] again from %s: nothing processed for %.0f s "
                                 "with records up to %s [%s]", tp.topic, tp.partition, start,
                                 STALL_GRACE_S, end - 1, self._describe(tp))  # fmt: skip
                self._trace.add(tp, "sought", start, "stalled")
                await self.seek(tp, start)

    async def _refetch(self) -> None:
        """Move each partition back to its oldest abandoned record, unless a seek since (the
        rebalance's own) put it at or before that record: then nothing at or after the
        record has been delivered since. (Not asked of the consumer: awaiting ``position()``
        here coincided with a stall of every partition in a test run.)"""
        assigned = self.assignment()
        abandoned = self._abandoned
        for tp, offset in list(abandoned.items()):
            del abandoned[tp]
            if tp not in assigned:
                continue  # the new owner starts from the committed offset
            last = self._delivered.get(tp)
            if last is not None and last >= offset:
                self.log.info("fetching %s[%s] again from %s (missed during a rebalance)",
                              tp.topic, tp.partition, offset)  # fmt: skip
                self._trace.add(tp, "sought", offset, "abandoned")
                await self.seek(tp, offset)
            else:
                self._trace.add(tp, "not sought", offset, f"abandoned; last delivered {last}")

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        yield_every, num_since_yield = 100, 0
        # No gaps are guessed from jumps between delivered offsets (Faust does): a batch
        # fetched around a concurrent seek, or dropped on the way, makes the same jump. The
        # fetch reports real gaps (_wait_next_records). ``delivered`` (the last offset handed
        # over since the last seek) only tells _refetch whether a record came after a seek.
        delivered = self._delivered
        flow_active = self.app.flow_control.is_active
        last_unstall = monotonic()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                if not self.suspend_flow.is_set() and flow_active():
                    if self._abandoned:
                        await self._refetch()
                    if self._holes:
                        await self._heal()
                    if monotonic() - last_unstall >= 1.0:
                        last_unstall = monotonic()
                        await self._unstall()
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                batch_seeks: int | None = None
                if not self.should_stop:
                    async for tp, message in ait:
                        if batch_seeks is None:
                            batch_seeks = self._seeks
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        # Faust drops a record below the read offset as already read; here it
                        # is delivered again (at-least-once: every effect is idempotent).
                        fresh = batch_seeks == self._seeks
                        if fresh:
                            delivered[tp] = offset
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        # The hand-over races a flow suspension (a rebalance or recovery must
                        # not wait for a full buffer). Faust forgets a record that loses the race;
                        # here it is remembered, and fetched again once the flow resumes.
                        handing = callback(message)
                        won = await self.wait_first(handing, self.suspend_flow.wait())
                        if handing in won.done:
                            set_read_offset(tp, offset)
                            if fresh:
                                self._trace.add(tp, "delivered", offset)
                            else:
                                self._trace.add(tp, "delivered", offset, "fetched before a seek")
                        else:
                            self._trace.add(tp, "abandoned", offset, "hand-over lost")
                            self._abandon(tp, offset)
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


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
