"""The worker consumer's offset bookkeeping: pure decisions, no Faust, mode or aiokafka.

What a partition's consumer fetched, delivered, had acknowledged and committed decides what
may be committed and when a partition is fetched again (docs/dispatch.md, "Records lost
around a restart"). The rules:

- Only offsets a fetch covered without handing a record over are gaps (:func:`gaps`): a jump
  between delivered offsets is not one.
- A commit covers only an unbroken run from the committed offset (before the first commit,
  from the offset the last seek set) of acknowledged records and known gaps
  (:meth:`OffsetBook.hold`). Otherwise the partition has a *hole* at that offset.
- A hole open for ``HOLE_GRACE_S`` is fetched again (:meth:`OffsetBook.due_holes`); after its
  second refetch a hole below the log start is counted as a gap (:meth:`OffsetBook.expired`).
- A partition with records after its committed offset that delivers, acknowledges and
  commits nothing for ``STALL_GRACE_S`` is fetched again from there
  (:meth:`OffsetBook.stalled`).
- A record whose hand-over lost the race against a flow suspension, or whose acknowledgement
  was refused, is fetched again when the flow resumes (:meth:`OffsetBook.abandon`,
  :meth:`OffsetBook.refetches`).
- An acknowledgement of a record an agent let go unprocessed is struck out before the next
  commit (:meth:`OffsetBook.let_go`, :meth:`OffsetBook.strike`).

The adapter (streams/transport.py) reads the library's state through streams/compat.py and
hands it to these functions as plain values; partitions are any hashable key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

#: How long a partition's commit may wait for a passed-over record before it is fetched again.
HOLE_GRACE_S = 3.0
#: How long a partition with records after its committed offset may show no progress at all
#: (nothing delivered, nothing acknowledged) before it is fetched again from that offset.
STALL_GRACE_S = 10.0

K = TypeVar("K", bound=Hashable)

#: ``[begin, end)`` offset intervals.
Spans = Iterable[tuple[int, int]]


def gaps(spans: Spans, offsets: Sequence[int]) -> list[tuple[int, int]]:
    """The ``(first, last)`` runs of offsets inside ``spans`` that no record of ``offsets``
    holds. ``offsets`` are the offsets handed over for the partition."""
    out: list[tuple[int, int]] = []
    held = sorted(set(offsets))
    for start, end in sorted(spans):
        expected = start
        for offset in held:
            if offset < start or offset >= end:
                continue
            if offset > expected:
                out.append((expected, offset - 1))
            expected = offset + 1
        if expected < end:
            out.append((expected, end - 1))
    return out


def covered(intervals: Spans, start: int, end: int) -> bool:
    """True when every offset in ``[start, end)`` lies in one of ``intervals`` (``[begin,
    end)`` pairs, such as the known gaps)."""
    for begin, stop in sorted(intervals):
        if stop <= start:
            continue
        if begin > start or start >= end:
            break
        start = max(start, stop)
    return start >= end


def clip_gap(committed: int | None, first: int, last: int) -> tuple[int, int] | None:
    """The part of the gap ``first``-``last`` a commit may still pass, or None when all of it
    is committed already. (Faust clips at committed + 1, but the committed offset is the next
    one to read.)"""
    if committed is not None:
        first = max(first, committed)
    return (first, last) if first <= last else None


def counts(flow_active: bool, generation: int | None, current_generation: int | None) -> bool:
    """Whether an acknowledgement counts: not when the flow is suspended or the record comes
    from an earlier consumer generation (a stream skipped it, and Faust acknowledges such a
    record "so that lag does not grow")."""
    return flow_active and generation == current_generation


class Hold(NamedTuple):
    """A partition's commit held at ``offset`` (the first record not processed) while
    records from ``first_acked`` on were processed; ``new`` the first time this hole shows."""

    offset: int
    first_acked: int
    new: bool


class DueHole(NamedTuple):
    """A hole to fetch again from ``offset``; ``refetches`` counts the refetches in a row."""

    tp: Any
    offset: int
    refetches: int


class Refetch(NamedTuple):
    """An abandoned record at ``offset``; ``seek`` when something at or after it was
    delivered since (``last``), so the partition must be moved back."""

    tp: Any
    offset: int
    last: int | None
    seek: bool


class OffsetBook(Generic[K]):
    """Per partition: where the last seek put it, what was delivered since, its holes, stalls,
    abandoned records and acknowledgements to strike out. Times are passed in (monotonic
    seconds), so every decision is a plain call."""

    def __init__(self, hole_grace_s: float = HOLE_GRACE_S, stall_grace_s: float = STALL_GRACE_S):
        self.hole_grace_s = hole_grace_s
        self.stall_grace_s = stall_grace_s
        #: How many seeks to the committed offsets there were.
        self.seeks = 0
        # The next offset to read per partition, set by the last seek to committed.
        self._floor: dict[K, int] = {}
        # The last offset the drain loop delivered per partition since that seek.
        self._delivered: dict[K, int] = {}
        # Holes: partitions whose commit waits for a record that was passed over while later
        # ones were processed: (the record's offset, when the hole was first seen).
        self._holes: dict[K, tuple[int, float]] = {}
        # Per partition: the hole last fetched again, and how many times in a row.
        self._healed: dict[K, tuple[int, int]] = {}
        # Per partition: what it had delivered, acknowledged and committed when last looked
        # at, and since when that has not changed.
        self._progress: dict[K, tuple[tuple[Any, ...], float]] = {}
        # Records to fetch again (lowest offset per partition): handed over too late, or
        # skipped by a stream. Refetched once the flow resumes.
        self._abandoned: dict[K, int] = {}
        # Records agents let go without processing them, whose acknowledgements must not count.
        self._unprocessed: dict[K, set[int]] = {}

    # -- seeks and deliveries ------------------------------------------------------------

    def sought(self, offsets: Mapping[K, int | None]) -> int:
        """A seek to the committed offsets (the next offset per partition); its number."""
        self.seeks += 1
        for tp, offset in offsets.items():
            self._delivered.pop(tp, None)
            self._progress.pop(tp, None)
            if offset is not None and offset >= 0:
                self._floor[tp] = offset
            else:
                self._floor.pop(tp, None)
        return self.seeks

    def deliver(self, tp: K, offset: int, batch_seeks: int) -> bool:
        """A record handed to the agents from a batch fetched when ``seeks`` was
        ``batch_seeks``. True (and remembered) when no seek came between: a record fetched
        before a seek says nothing about where the partition now is."""
        fresh = batch_seeks == self.seeks
        if fresh:
            self._delivered[tp] = offset
        return fresh

    def delivered(self, tp: K) -> int | None:
        return self._delivered.get(tp)

    def first_unprocessed(self, tp: K, committed: int | None) -> int | None:
        """The committed offset, or before the first commit the offset the last seek set."""
        return committed if committed is not None else self._floor.get(tp)

    # -- commits and holes ---------------------------------------------------------------

    def hold(
        self,
        tp: K,
        committed: int | None,
        acked: Collection[int],
        known_gaps: Spans,
        now: float,
    ) -> Hold | None:
        """Whether ``tp``'s commit must wait: the acknowledged records do not start an
        unbroken run (with the known gaps) at the first unprocessed offset. Faust lets the run
        start one record after the committed offset (and anywhere when nothing was committed
        yet), so a record dropped before processing was committed past. None: the commit may
        proceed (Faust's own run then decides how far)."""
        floor = self.first_unprocessed(tp, committed)
        if acked and floor is not None:
            first = min(acked)
            if not covered(known_gaps, floor, first):
                new = self._holes.get(tp, (None, 0.0))[0] != floor
                if new:
                    self._holes[tp] = (floor, now)
                return Hold(floor, first, new)
        self._holes.pop(tp, None)
        return None

    def has_hole(self, tp: K) -> bool:
        return tp in self._holes

    def hole(self, tp: K) -> int | None:
        entry = self._holes.get(tp)
        return None if entry is None else entry[0]

    def has_holes(self) -> bool:
        return bool(self._holes)

    def due_holes(
        self, now: float, assigned: Collection[K], committed: Callable[[K], int | None]
    ) -> list[DueHole]:
        """Holes open for ``hole_grace_s``, to fetch again; each gets a fresh grace for its
        refetch. Holes of partitions no longer assigned, or committed past meanwhile (by
        another owner), are forgotten."""
        due: list[DueHole] = []
        for tp, (offset, since) in list(self._holes.items()):
            done = committed(tp)
            if tp not in assigned or (done is not None and offset < done):
                del self._holes[tp]
            elif now - since >= self.hole_grace_s:
                self._holes[tp] = (offset, now)
                healed = self._healed.get(tp)
                count = healed[1] + 1 if healed and healed[0] == offset else 1
                self._healed[tp] = (offset, count)
                due.append(DueHole(tp, offset, count))
        return due

    def expired(self, tp: K, offset: int, log_start: int | None) -> tuple[int, int] | None:
        """When retention has deleted the hole at ``offset`` (the log now starts after it),
        the hole is closed and ``(offset, log_start - 1)`` is returned: to count as a gap.
        None when the log start is unknown or the record is still in the log."""
        if log_start is None or log_start <= offset:
            return None
        self._holes.pop(tp, None)
        return (offset, log_start - 1)

    # -- stalls --------------------------------------------------------------------------

    def mark(self, tp: K, committed: int | None, acked: Sequence[int]) -> tuple[Any, ...]:
        """What counts as progress: the last delivery, the committed offset, the
        acknowledgements."""
        return (self._delivered.get(tp), committed, len(acked), acked[-1] if acked else None)

    def stalled(
        self,
        tp: K,
        mark: tuple[Any, ...],
        now: float,
        committed: int | None,
        highwater: Callable[[], int | None],
        known_gaps: Callable[[], Spans],
    ) -> tuple[int, int] | None:
        """``(start, highwater)``: the offset to fetch ``tp`` again from when it has shown no
        progress (``mark`` unchanged) for ``stall_grace_s`` with records after its first
        unprocessed offset, up to the fetch high watermark (offsets known to hold no record,
        such as a trailing transaction marker, are not waiting records). None otherwise.
        ``highwater`` and ``known_gaps`` are asked only once the grace has passed."""
        seen = self._progress.get(tp)
        if seen is None or seen[0] != mark:
            self._progress[tp] = (mark, now)
            return None
        if now - seen[1] < self.stall_grace_s:
            return None
        start = self.first_unprocessed(tp, committed)
        end = highwater() if start is not None else None
        if start is None or end is None or covered(known_gaps(), start, end):
            return None
        self._progress[tp] = (mark, now)  # give the refetch its own grace
        return (start, end)

    # -- abandoned records ---------------------------------------------------------------

    def abandon(self, tp: K, offset: int) -> None:
        """Fetch ``tp`` again from ``offset`` (or an earlier abandoned record) when the flow
        resumes."""
        self._abandoned[tp] = min(self._abandoned.get(tp, offset), offset)

    def has_abandoned(self) -> bool:
        return bool(self._abandoned)

    def refetches(self, assigned: Collection[K]) -> list[Refetch]:
        """Take every abandoned record of an assigned partition (the new owner of any other
        starts from the committed offset). A partition needs moving back only when something
        at or after the record was delivered since; else a seek since (the rebalance's own)
        put it at or before the record."""
        out: list[Refetch] = []
        for tp, offset in list(self._abandoned.items()):
            del self._abandoned[tp]
            if tp in assigned:
                last = self._delivered.get(tp)
                out.append(Refetch(tp, offset, last, last is not None and last >= offset))
        return out

    # -- records let go unprocessed ------------------------------------------------------

    def let_go(self, tp: K, offset: int) -> None:
        """An agent let this record go without processing it: its acknowledgement, whenever
        it arrives, must not count."""
        self._unprocessed.setdefault(tp, set()).add(offset)

    def strike(self, tp: K, committed: int | None, acked: Collection[int]) -> list[int]:
        """The acknowledgements among ``acked`` to strike out (records let go unprocessed).
        A record let go below the committed offset is forgotten: its acknowledgement can no
        longer arrive (Faust refuses it)."""
        pending = self._unprocessed.get(tp)
        if not pending:
            return []
        out = []
        for offset in list(pending):
            if offset in acked:
                out.append(offset)
                pending.discard(offset)
            elif committed is not None and offset < committed:
                pending.discard(offset)
        if not pending:
            del self._unprocessed[tp]
        return sorted(out)

    def letting_go(self, tp: K) -> bool:
        return bool(self._unprocessed.get(tp))
