"""Exact offset spans of what the fetcher hands over, so that gaps are facts, not guesses.

A partition's commit may pass an offset only when it was processed or holds no record
(compacted away, a transaction marker, an aborted batch). Faust guesses the second kind from
jumps between the offsets it delivers, and a jump also appears when a batch fetched around a
concurrent seek (the rebalance's seek to the committed offset runs beside the fetch loop) or
dropped on the way was never processed: the commit then passed records nobody processed. This
was seen in looped SIGKILL tests ("counting tike.needs[2] 176-199 as a gap").

aiokafka knows exactly which offsets a hand-over covers: ``FetchResult.getall`` moves the
position from where the batch starts to past its last record, control batch or aborted batch.
:func:`install` wraps it to report ``(start, end)`` per partition while :data:`SINK` is set
(only on the worker consumer's fetch path); :func:`gaps` turns spans and the records handed
over into the offsets that hold no record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from aiokafka.consumer import fetcher as aiokafka_fetcher

#: Per partition, the ``(start, end)`` offset spans handed over while this is set.
SINK: ContextVar[dict[Any, list[tuple[int, int]]] | None] = ContextVar(
    "tike_fetch_spans", default=None
)


class Fetched(dict[Any, Any]):
    """A record map that also carries the spans its hand-over covered."""

    def __init__(self, records: Mapping[Any, Any], spans: dict[Any, list[tuple[int, int]]]):
        super().__init__(records)
        self.spans = spans


def install() -> None:
    """Wrap ``FetchResult.getall`` (aiokafka 0.14) once per process. It reports nothing
    unless :data:`SINK` is set, so other consumers in the process are unaffected."""
    cls: Any = aiokafka_fetcher.FetchResult
    if getattr(cls, "_tike_spans", False):
        return
    original = cls.getall

    def getall(self: Any, max_records: int | None = None) -> Any:
        sink = SINK.get()
        batch = self._partition_records
        if sink is None or batch is None:
            return original(self, max_records)
        # Read from the batch, not the partition's position: Faust seeks from its own
        # thread, so the position can move under this call. The batch's next offset moves
        # only as this call iterates it, and is what getall then sets the position to; when
        # check_assignment refuses the hand-over it does not move at all.
        start = batch.next_fetch_offset
        records = original(self, max_records)
        end = batch.next_fetch_offset
        if end > start:
            sink.setdefault(self._topic_partition, []).append((start, end))
        return records

    cls.getall = getall
    cls._tike_spans = True


def gaps(spans: Iterable[tuple[int, int]], offsets: Sequence[int]) -> list[tuple[int, int]]:
    """The ``(first, last)`` runs of offsets inside ``spans`` that no record of ``offsets``
    holds. ``offsets`` are the offsets handed over for the partition, in order."""
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
