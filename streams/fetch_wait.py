"""How long a consumer's next fetch may wait at the broker: short while records flow, long
when the consumer has been idle.

A long poll costs the broker and the client a request per wait, so an idle consumer that
polls every few milliseconds burns CPU for nothing (docs/performance.md, "Idle cost"). A long
wait costs latency: the embedded broker answers a long poll by sleeping half the remaining
wait and looking again, so a record arriving during a wait ``W`` is seen up to ``W / 2``
later. Records come in bursts along a path of several hops, so only the first hop after an
idle period pays the long wait: its fetch returns data, the consumer turns hot, and the next
hops are fetched with the short wait. Pure: the caller reports each fetch and applies the
wait it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FetchWait:
    """``hot_ms`` for ``hot_for_s`` after the last fetch that returned records, else
    ``idle_ms``."""

    hot_ms: int
    idle_ms: int
    hot_for_s: float = 5.0
    _last_data: float = field(default=float("-inf"), repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.hot_ms <= self.idle_ms:
            raise ValueError(f"need 0 < hot_ms <= idle_ms, got {self.hot_ms}, {self.idle_ms}")

    def after_fetch(self, got_records: bool, now: float) -> int:
        """Report a fetch (``now``: a monotonic clock); return the wait for the next one."""
        if got_records:
            self._last_data = now
        return self.wait(now)

    def wait(self, now: float) -> int:
        return self.hot_ms if now - self._last_data < self.hot_for_s else self.idle_ms
