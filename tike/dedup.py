"""Expiry index for the de-duplication table: which seen ids of a partition are old enough
to forget. Pure; the worker keeps the ids themselves in a changelogged table."""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class ExpiryIndex:
    """Per-partition min-heaps of (first seen, key)."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self._heaps: dict[int, list[tuple[float, str]]] = {}

    def known(self, partition: int) -> bool:
        return partition in self._heaps

    def load(self, partition: int, entries: Iterable[tuple[str, float]]) -> None:
        """Index a partition's existing entries (after a restart or rebalance)."""
        heap = [(ts, key) for key, ts in entries]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def note(self, partition: int, key: str, seen_at: float) -> None:
        heapq.heappush(self._heaps.setdefault(partition, []), (seen_at, key))

    def expired(self, partition: int, now: float) -> list[str]:
        """Pop and return the keys of ``partition`` older than the retention."""
        heap = self._heaps.get(partition)
        out: list[str] = []
        cutoff = now - self.retention_s
        while heap and heap[0][0] < cutoff:
            out.append(heapq.heappop(heap)[1])
        return out

    def __len__(self) -> int:
        return sum(len(h) for h in self._heaps.values())
