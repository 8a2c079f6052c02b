"""Watchdog: the worker exits non-zero rather than idling while alive.

Faust agents can die or stall while the process stays up (faust-streaming #175, #640). Three
checks end the process with exit code 70:

- an agent coroutine that raises or returns (``guard``);
- an input partition with records waiting (fetch high watermark past the last processed
  offset) and no progress for ``stall_s`` (a check on the event loop);
- an event loop that has not run its heartbeat for ``stall_s`` (an OS thread, so a blocked
  loop is caught too).

It also keeps the liveness and per-partition lag gauges.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from streams import metrics

log = logging.getLogger("tike.watchdog")
EXIT_CODE = 70


class Watchdog:
    def __init__(
        self, stall_s: float, exit: Callable[[int], Any] = os._exit, interval_s: float = 1.0
    ) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s
        self._exit = exit
        self.loop_beat = time.monotonic()
        #: (topic, partition) -> (next offset to process, monotonic time of last progress)
        self.progress: dict[tuple[str, int], tuple[int, float]] = {}
        #: (topic, partition) -> monotonic time since when it has had records waiting
        self.waiting_since: dict[tuple[str, int], float] = {}
        self.stopping = False
        self.fired: str | None = None
        self._thread: threading.Thread | None = None

    def processed(self, topic: str, partition: int, offset: int) -> None:
        self.progress[(topic, partition)] = (offset + 1, time.monotonic())

    def fatal(self, reason: str) -> None:
        if self.fired or self.stopping:
            return
        self.fired = reason
        metrics.WORKER_UP.set(0)
        log.critical("watchdog: %s; exiting with code %d", reason, EXIT_CODE)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        self._exit(EXIT_CODE)

    def guard(
        self, name: str, fn: Callable[[Any], Awaitable[None]]
    ) -> Callable[[Any], Awaitable[None]]:
        """Wrap an agent so that its death stops the worker."""

        async def agent(stream: Any) -> None:
            try:
                await fn(stream)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                self.fatal(f"agent {name} crashed: {type(exc).__name__}: {exc}")
                raise
            if not self.stopping:
                self.fatal(f"agent {name} stopped")

        agent.__name__ = getattr(fn, "__name__", name)
        agent.__qualname__ = name  # Faust labels the agent's logs with it
        return agent

    def check_partitions(self, highwaters: dict[tuple[str, int], int]) -> None:
        """Lag gauges, and a fatal stop for a partition that waits without progress."""
        now = time.monotonic()
        for tp, highwater in highwaters.items():
            position, last = self.progress.get(tp, (None, None))
            if position is None:
                continue  # not consumed yet: Faust may still be assigning or recovering
            lag = max(0, highwater - position)
            metrics.CONSUMER_LAG.labels(tp[0], str(tp[1])).set(lag)
            if lag == 0:
                self.waiting_since.pop(tp, None)
                continue
            since = max(self.waiting_since.setdefault(tp, now), last or now)
            if now - since > self.stall_s:
                self.fatal(
                    f"agent on {tp[0]}[{tp[1]}] stalled: {lag} records waiting, "
                    f"no progress for {now - since:.0f} s"
                )

    def beat(self) -> None:
        self.loop_beat = time.monotonic()

    def _watch_loop(self) -> None:
        while not self.stopping:
            time.sleep(self.interval_s)
            silent = time.monotonic() - self.loop_beat
            if silent > self.stall_s and not self.stopping:
                self.fatal(f"event loop blocked for {silent:.0f} s")
                return

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._watch_loop, name="tike-watchdog", daemon=True)
        self._thread.start()


def highwaters_of(consumer: Any) -> dict[tuple[str, int], int]:
    """Fetch high watermarks of a Faust consumer's assignment (right on every broker)."""
    out = {}
    for tp in consumer.assignment():
        try:
            hw = consumer.highwater(tp)
        except Exception:  # not fetched yet, or just revoked
            continue
        if hw is not None:
            out[(tp.topic, tp.partition)] = int(hw)
    return out
