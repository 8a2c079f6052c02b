"""A short history per partition of what the worker's consumer did with its records.

When the consumer fetches a partition again because a record was passed over or the partition
stalled (streams/transport.py), the warning carries this history: which offsets were fetched,
delivered to the agents, acknowledged, refused, abandoned, sought and committed, in order.
That is what tells a passed-over record's path apart from the others. Consecutive offsets of
one kind are kept as one range, so the history stays short and cheap to keep. (The consumer's
own state, read from library internals, is streams/compat.py's ``consumer_state``.)
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
