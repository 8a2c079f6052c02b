"""Which need ids a partition has already published, forgotten after a retention period.

The journal projector rebuilds this from the output log (``tike.needs``) whenever it takes a
partition, so "published" and "remembered" are one fact and a journal record delivered again
after a crash cannot publish its need twice. Pure; the reading is in :mod:`tike.kafka_log`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class SeenNeeds:
    """Per-partition set of ids with first-seen times, and a min-heap for expiry."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self._ids: dict[int, dict[str, float]] = {}
        self._heaps: dict[int, list[tuple[float, str]]] = {}

    def loaded(self, partition: int) -> bool:
        return partition in self._ids

    def load(self, partition: int, entries: Iterable[tuple[str, float]]) -> None:
        """Replace a partition's ids with ``(id, seen_at)`` pairs read from the log."""
        ids: dict[str, float] = {}
        for key, ts in entries:
            ids.setdefault(key, ts)
        self._ids[partition] = ids
        heap = [(ts, key) for key, ts in ids.items()]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def forget(self, partitions: Iterable[int] | None = None) -> None:
        """Drop partitions (all when None): another worker may publish to them now."""
        for p in list(self._ids) if partitions is None else list(partitions):
            self._ids.pop(p, None)
            self._heaps.pop(p, None)

    def __contains__(self, item: tuple[int, str]) -> bool:
        partition, key = item
        return key in self._ids.get(partition, {})

    def add(self, partition: int, key: str, seen_at: float) -> None:
        self._ids.setdefault(partition, {})[key] = seen_at
        heapq.heappush(self._heaps.setdefault(partition, []), (seen_at, key))

    def expire(self, partition: int, now: float) -> int:
        """Forget ids of ``partition`` older than the retention; return how many."""
        heap, ids = self._heaps.get(partition), self._ids.get(partition)
        if not heap or ids is None:
            return 0
        cutoff = now - self.retention_s
        n = 0
        while heap and heap[0][0] < cutoff:
            _, key = heapq.heappop(heap)
            ids.pop(key, None)
            n += 1
        return n

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())
