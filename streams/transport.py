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
as holding no record are those the fetch itself reports so (not jumps between delivered
offsets as in Faust); and a partition whose commit stays held at such a hole
(``HOLE_GRACE_S``), or that makes no progress with records after its committed offset
(``STALL_GRACE_S``), is fetched again from there. Tike is at-least-once with idempotent
effects, so a redelivery costs a duplicate that is recognised, never a loss.

This module is the adapter between two others: streams/offsets.py decides (pure
bookkeeping, no library import), streams/compat.py is the only place that touches the
internals of faust-streaming, mode and aiokafka. Here are the logs, the consumer history and
the seeks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial
from time import monotonic
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import compat
from streams.consumer_trace import ConsumerTrace
from streams.offsets import clip_gap, counts, gaps


class _Consumer(compat.SeamConsumer):
    def __post_init__(self) -> None:
        super().__post_init__()
        # What happened to each partition's records lately, for the refetch warnings.
        self._trace = ConsumerTrace()
        self._last_unstall: float | None = None

    # -- fetches, gaps, commits ----------------------------------------------------------

    async def fetched(self, tp: TP, spans: Collection[tuple[int, int]], offsets: list[int]) -> None:
        """Offsets the fetch covered but that hold no record (compaction, transaction
        markers, aborted batches) are gaps: a commit may pass them. Nothing else is: a record
        that is fetched but not processed holds the commit."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        for start, end in spans:
            self._trace.add(tp, "fetched", start, f"to {end - 1}, {len(offsets)} records")
        for first, last in gaps(spans, offsets):
            self.gap_found(tp, first, last)

    def gap_found(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if self._record_gap(tp, offset_from, offset_to):
            self.log.info(
                "%s[%s] %s-%s hold no records (compacted or transaction markers)",
                tp.topic,
                tp.partition,
                offset_from,
                offset_to,
            )

    def _record_gap(self, tp: TP, offset_from: int, offset_to: int, note: str = "") -> bool:
        """Let commits pass ``offset_from``-``offset_to``; False when all of it is committed
        already."""
        gap = clip_gap(self.committed(tp), offset_from, offset_to)
        if gap is None:
            return False
        self._trace.add(tp, "gap", gap[0], f"to {gap[1]}{note}")
        self.add_known_gap(tp, *gap)
        return True

    def committed_offsets(self, offsets: Mapping[TP, int], done: bool) -> None:
        for tp, offset in offsets.items():
            self._trace.add(tp, "committed", offset, "" if done else "refused")

    def next_commit(self, tp: TP) -> int | None:
        """Commit only from an unbroken run of acknowledged records from the first
        unprocessed offset (streams/offsets.py, OffsetBook.hold)."""
        book = self.book
        if book.letting_go(tp):
            book_strike = book.strike
            self.strike_acks(tp, lambda acked: book_strike(tp, self.committed(tp), acked))
        hold = book.hold(tp, self.committed(tp), self.acked(tp), self.known_gaps(tp), monotonic())
        if hold is not None:
            if hold.new:  # once per hole
                self.log.info(
                    "holding the commit of %s[%s] at %s: processed up from %s",
                    tp.topic,
                    tp.partition,
                    hold.offset,
                    hold.first_acked,
                )
            return None
        return self.faust_next_commit(tp)

    # -- acknowledgements ----------------------------------------------------------------

    def ack_counts(self, message: Any) -> bool:
        """Faust's streams skip a record they take from their buffer while the flow is
        suspended or after the generation changed (a rebalance), and then acknowledge it
        "so that lag does not grow": the commit moves past a record never processed, and
        unless a seek follows, nothing fetches it again. Such an acknowledgement does not
        count and the record is fetched again instead (:meth:`ack_refused`). (A processed
        record acknowledged in that window is fetched again too: a redelivery, which every
        effect tolerates.) This is the pure-Python stream iterator; Faust's compiled one
        (used when its extensions are built) drops a skipped record without any
        acknowledgement and acknowledges processed ones without calling ``ack``, so there the
        hole and stall rules fetch the skipped record again."""
        app = self.app
        return counts(
            app.flow_control.is_active(), message.generation_id, app.consumer_generation_id
        )

    def acknowledged(self, message: Any) -> None:
        self._trace.add(message.tp, "acked", message.offset)

    def ack_refused(self, message: Any) -> None:
        self._trace.add(
            message.tp,
            "ack refused",
            message.offset,
            f"flow={self.app.flow_control.is_active()} generation="
            f"{message.generation_id}/{self.app.consumer_generation_id}",
        )
        self.book.abandon(message.tp, message.offset)

    def unprocessed(self, tp: TP, offset: int) -> None:
        """An agent let this record go without processing it (the situation agent's stale
        skip during a rebalance). Faust's compiled stream iterator acknowledges it anyway,
        without calling ``ack``; that acknowledgement is struck out before the next commit,
        so should the partition come back, the commit waits for the record."""
        self.book.let_go(tp, offset)
        self._trace.add(tp, "let go unprocessed", offset)

    # -- seeks -----------------------------------------------------------------------------

    async def seek_to_committed(self) -> Mapping[TP, int]:
        offsets = await super().seek_to_committed()
        self._sought(offsets)
        return offsets

    def _sought(self, offsets: Mapping[TP, int | None]) -> None:
        """The bookkeeping of a seek to the committed offsets (the next offset per partition)."""
        seeks = self.book.sought(offsets)
        for tp, offset in offsets.items():
            self._trace.add(tp, "sought to committed", offset, f"seek {seeks}")

    # -- the drain loop ----------------------------------------------------------------------

    def handed_over(self, tp: TP, offset: int, fresh: bool) -> None:
        self._trace.add(tp, "delivered", offset, "" if fresh else "fetched before a seek")

    def hand_over_lost(self, tp: TP, offset: int) -> None:
        self._trace.add(tp, "abandoned", offset, "hand-over lost")
        self.book.abandon(tp, offset)

    async def tend(self) -> None:
        if self.book.has_abandoned():
            await self._refetch()
        if self.book.has_holes():
            await self._heal()
        now = monotonic()
        if self._last_unstall is None:
            self._last_unstall = now
        elif now - self._last_unstall >= 1.0:
            self._last_unstall = now
            await self._unstall()

    def _describe(self, tp: TP) -> str:
        return compat.consumer_state(self, tp) + "; history: " + self._trace.describe(tp)

    async def _heal(self) -> None:
        """Fetch again from every hole older than ``HOLE_GRACE_S``. Whatever passed the
        record over (a batch dropped when the flow or the generation changed mid-fetch,
        buffers cleared, a skip), the partition's fetch position had moved past it, and
        nothing would bring it back before a restart. Records after it come again too:
        redeliveries, which every effect tolerates. A hole that outlives its refetch may be
        below the log start (retention deleted the records before they were processed): the
        fetch then resets to the log start, and the hole is counted as a gap, with an error."""
        for tp, offset, refetches in self.book.due_holes(
            monotonic(), self.assignment(), self.committed
        ):
            if refetches > 1 and self._expired(tp, offset, await self._log_start(tp)):
                continue
            self.log.warning(
                "fetching %s[%s] again from %s: passed over, later records were processed [%s]",
                tp.topic,
                tp.partition,
                offset,
                self._describe(tp),
            )
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
        gap = self.book.expired(tp, offset, start)
        if gap is None:
            return False
        self.log.error(
            "%s[%s] %s-%s were deleted by retention before they were processed",
            tp.topic,
            tp.partition,
            gap[0],
            gap[1],
        )
        self._record_gap(tp, gap[0], gap[1], ", deleted by retention")
        return True

    async def _unstall(self) -> None:
        """A partition's last records can be passed over with nothing after them, so no
        hole shows. A partition that has records after its committed offset (by the fetch
        high watermark) but has delivered, acknowledged and committed nothing new for
        ``STALL_GRACE_S`` is fetched again from that offset. (Progress is read from the
        bookkeeping, not from ``ack()``: Faust's compiled stream iterator acknowledges
        records without calling it.)"""
        now = monotonic()
        book = self.book
        for tp in self.assignment():
            if not self.app.topics.acks_enabled_for(tp.topic) or book.has_hole(tp):
                continue
            committed = self.committed(tp)
            mark = book.mark(tp, committed, self.acked(tp))
            stalled = book.stalled(
                tp, mark, now, committed, partial(self.highwater, tp), partial(self.known_gaps, tp)
            )
            if stalled is None:
                continue
            start, end = stalled
            self.log.warning(
                "fetching %s[%s] again from %s: nothing processed for %.0f s "
                "with records up to %s [%s]",
                tp.topic,
                tp.partition,
                start,
                book.stall_grace_s,
                end - 1,
                self._describe(tp),
            )
            self._trace.add(tp, "sought", start, "stalled")
            await self.seek(tp, start)

    async def _refetch(self) -> None:
        """Move each partition back to its oldest abandoned record, unless a seek since (the
        rebalance's own) put it at or before that record: then nothing at or after the
        record has been delivered since. (Not asked of the consumer: awaiting ``position()``
        here coincided with a stall of every partition in a test run.)"""
        for tp, offset, last, seek in self.book.refetches(self.assignment()):
            if seek:
                self.log.info(
                    "fetching %s[%s] again from %s (missed during a rebalance)",
                    tp.topic,
                    tp.partition,
                    offset,
                )
                self._trace.add(tp, "sought", offset, "abandoned")
                await self.seek(tp, offset)
            else:
                self._trace.add(tp, "not sought", offset, f"abandoned; last delivered {last}")


class _Producer(faust_aiokafka.Producer):
    async def flush(self) -> None:
        """Faust flushes before it commits offsets: first let the situation agent's outbox
        put every output of the journal records before now on the producer (streams/outbox.py),
        so a committed input's outputs are delivered too."""
        outbox = getattr(self.app, "tike_outbox", None)
        if outbox is not None:
            await outbox.sent_so_far()
        await super().flush()


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer
