"""Garbage-collector pauses: time them, and keep full collections short in a big heap.

A full (generation 2) collection walks every tracked object. A gateway holding 5,000 sockets
has about a million of them, and each full collection during a burst of connects stopped it
for 130-900 ms (docs/performance.md, "Gateway fan-out"). CPython starts a full collection
when the objects promoted since the last one exceed a quarter of those that survived it, so
a growing heap pays such a pause every time it grows by a quarter.

:class:`GcWatch` times every collection into an observer (a Prometheus histogram) and, with
``freeze=True``, moves the survivors of each full collection into the permanent generation
(``gc.freeze()``): the next full collection walks only what arrived since. Objects frozen
there that later become cyclic garbage (a closed socket's protocol objects) are not
collected while frozen, so every ``unfreeze_every`` full collections the permanent
generation is put back (``gc.unfreeze()``) and the next full collection walks the whole heap
once and frees them. Pure of any framework; the caller registers and unregisters it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

#: ``observe(generation, seconds)``
Observer = Callable[[int, float], None]
#: Histogram buckets for pauses, in seconds.
PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def into(histogram: Any) -> Observer:
    """An observer that records pauses in a histogram labelled by ``generation``."""
    return lambda generation, seconds: histogram.labels(str(generation)).observe(seconds)


class GcWatch:
    def __init__(
        self,
        observe: Observer,
        *,
        freeze: bool = False,
        unfreeze_every: int = 20,
        call_soon: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        if unfreeze_every < 1:
            raise ValueError("unfreeze_every must be at least 1")
        self.observe = observe
        self.freeze = freeze
        self.unfreeze_every = unfreeze_every
        # gc.freeze() must not run inside a collection's callback: the caller's event loop
        # runs it just after (``loop.call_soon_threadsafe``); without one it runs at once.
        self.call_soon = call_soon
        self.full_collections = 0
        self.frozen_since_unfreeze = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info.get("generation", 0))
        self.observe(generation, time.perf_counter() - self._started)
        if generation == 2 and self.freeze:
            self.full_collections += 1
            if self.call_soon is None:
                self.after_full()
            else:
                self.call_soon(self.after_full)

    def after_full(self) -> None:
        """Freeze the survivors of a full collection, or every ``unfreeze_every``-th time
        put the frozen objects back so that the next full collection can free their cycles."""
        if self.frozen_since_unfreeze >= self.unfreeze_every:
            gc.unfreeze()
            self.frozen_since_unfreeze = 0
        else:
            gc.freeze()
            self.frozen_since_unfreeze += 1

    def install(self) -> GcWatch:
        if self not in gc.callbacks:
            gc.callbacks.append(self)
        return self

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
        if self.freeze and self.frozen_since_unfreeze:
            gc.unfreeze()
            self.frozen_since_unfreeze = 0
