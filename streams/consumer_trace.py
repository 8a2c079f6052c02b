"""A short history per partition of what the worker's consumer did with its records.

When the consumer fetches a partition again because a record was passed over or the partition
stalled (streams/transport.py), the warning carries this history: which offsets were fetched,
delivered to the agents, acknowledged, refused, abandoned, sought and committed, in order.
That is what tells a passed-over record's path apart from the others. Consecutive offsets of
one kind are kept as one range, so the history stays short and cheap to keep.
"""

from __future__ import annotations

from collections import deque
from time import monotonic
from typing import Any

#: Entries kept per partition.
DEPTH = 40


class ConsumerTrace:
    def __init__(self, depth: int = DEPTH) -> None:
        self.depth = depth
        self._entries: dict[Any, deque[list[Any]]] = {}
        self._start = monotonic()

    def add(self, tp: Any, kind: str, offset: int | None, note: str = "") -> None:
        """Record ``kind`` at ``offset``; one more offset of a range already open extends it."""
        entries = self._entries.get(tp)
        if entries is None:
            entries = self._entries[tp] = deque(maxlen=self.depth)
        if entries and offset is not None and not note:
            last = entries[-1]
            if last[1] == kind and not last[4] and last[3] is not None and last[3] + 1 == offset:
                last[3] = offset
                return
        entries.append([round(monotonic() - self._start, 2), kind, offset, offset, note])

    def describe(self, tp: Any) -> str:
        """``t=12.3 delivered 40-52; t=12.4 acked 40-45; …`` (seconds since the consumer
        started)."""
        out = []
        for at, kind, first, last, note in self._entries.get(tp, ()):
            where = "" if first is None else f" {first}" if first == last else f" {first}-{last}"
            out.append(f"t={at} {kind}{where}{f' ({note})' if note else ''}")
        return "; ".join(out) or "no history"


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
