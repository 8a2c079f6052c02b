"""Fan-out from Redis streams to websocket clients, with per-client coalescing.

Each gateway process runs one reader per stream in use (a region's board, a team's
dispatches), however many clients watch it. A reader never waits for a client: it puts each
change into every subscriber's :class:`Outbox`, which keeps only the newest change per entity
and is bounded. A client that cannot keep up gets a fresh snapshot instead of a backlog (or
is closed by its sender; see gateway/ws.py).

A reader holds a Redis connection for up to a second at a time (``XREAD BLOCK``), so readers
use their own client (``Hub(reader=...)``, one connection per stream in use) and never take
connections from the pool that requests and websocket handshakes share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.store import EPOCH, Store, parse_seq

log = logging.getLogger(__name__)

KeyOf = Callable[[dict[str, Any]], str]


class Outbox:
    """One client's pending changes: newest per entity, at most ``limit`` entities."""

    def __init__(self, key_of: KeyOf, limit: int) -> None:
        self.key_of, self.limit = key_of, limit
        self.pending: dict[str, tuple[int, dict[str, Any]]] = {}
        self.needs_snapshot = False
        self.overflowed = 0
        self.floor = 0
        self.wake = asyncio.Event()

    def put(self, seq: int, item: dict[str, Any]) -> None:
        if self.needs_snapshot or seq <= self.floor:
            return
        key = self.key_of(item)
        self.pending.pop(key, None)  # re-insert: keep the send order by sequence
        self.pending[key] = (seq, item)
        if len(self.pending) > self.limit:
            self.pending.clear()
            self.needs_snapshot = True
            self.overflowed += 1
        self.wake.set()

    def reset(self) -> None:
        """The client needs a fresh snapshot (the stream started over, or it fell behind)."""
        self.pending.clear()
        self.floor = 0
        self.needs_snapshot = True
        self.wake.set()

    def begin_snapshot(self) -> None:
        """Collect changes again before a fresh snapshot is read (see :meth:`drop_through`)."""
        self.needs_snapshot = False

    def drop_through(self, seq: int) -> None:
        """Forget changes a snapshot taken at ``seq`` already holds, now and later."""
        self.floor = seq
        self.pending = {k: v for k, v in self.pending.items() if v[0] > seq}

    def take(self) -> tuple[int, list[dict[str, Any]]]:
        items = list(self.pending.values())
        self.pending.clear()
        self.wake.clear()
        return (items[-1][0] if items else 0), [item for _, item in items]


class Channel:
    """One Redis stream and the outboxes of the clients that watch it in this process.

    The reader keeps the last ``ring`` changes in memory, so a client that subscribes after
    its snapshot gets what the reader passed meanwhile without another Redis round trip.
    """

    def __init__(
        self,
        reader: aioredis.Redis,
        base: str,
        epoch: str | None,
        seq: int,
        ring: int,
    ) -> None:
        self.reader, self.base = reader, base
        self.epoch, self.last = epoch, seq
        self.recent: deque[tuple[int, dict[str, Any]]] = deque(maxlen=ring)
        self.outboxes: set[Outbox] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, box: Outbox, epoch: str | None, seq: int) -> None:
        """Subscribe a client whose snapshot was taken at ``epoch``/``seq`` (synchronous)."""
        self.outboxes.add(box)
        box.drop_through(seq)
        if epoch != self.epoch:
            box.reset()
        elif seq < self.last:
            if self.recent and self.recent[0][0] <= seq + 1:
                for s, item in self.recent:
                    if s > seq:
                        box.put(s, item)
            else:
                box.reset()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._read(), name=f"fanout {self.base}")

    def remove(self, box: Outbox) -> None:
        self.outboxes.discard(box)

    async def _read(self) -> None:
        redis = self.reader
        backoff = 0.2
        while self.outboxes:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.get(EPOCH)
                    pipe.xread({self.base + ":stream": f"{self.last}-1"}, count=500, block=1000)
                    raw_epoch, found = await pipe.execute()
                epoch = raw_epoch.decode() if raw_epoch else None
                if epoch != self.epoch:
                    log.info(
                        "%s: projection epoch %s -> %s; clients get snapshots",
                        self.base,
                        self.epoch,
                        epoch,
                    )
                    self.epoch, self.last = epoch, 0
                    self.recent.clear()
                    for box in list(self.outboxes):
                        box.reset()
                    continue
                backoff = 0.2
                for _stream, entries in found or ():
                    for eid, fields in entries:
                        seq, item = parse_seq(eid), orjson.loads(fields[b"d"])
                        if seq <= self.last:
                            continue
                        self.last = seq
                        self.recent.append((seq, item))
                        for box in list(self.outboxes):
                            box.put(seq, item)
            except (RedisError, OSError) as exc:
                log.warning("reading %s: %s; retrying in %.1f s", self.base, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


class Hub:
    """The channels of this process. ``reader`` is the Redis client of their blocking reads
    (by default the store's own, which is fine only where nothing else shares its pool)."""

    def __init__(
        self, store: Store, ring: int = 2000, reader: aioredis.Redis | None = None
    ) -> None:
        self.store, self.ring = store, ring
        self.reader = reader if reader is not None else store.redis
        self.channels: dict[str, Channel] = {}

    def subscribe(self, base: str, box: Outbox, epoch: str | None, seq: int) -> None:
        """Deliver changes after ``seq`` (a snapshot's) to ``box``. Synchronous on purpose:
        nothing can pass between the snapshot's read and the subscription."""
        channel = self.channels.get(base)
        if channel is None:
            channel = self.channels[base] = Channel(self.reader, base, epoch, seq, self.ring)
        channel.add(box, epoch, seq)

    def unsubscribe(self, base: str, box: Outbox) -> None:
        channel = self.channels.get(base)
        if channel is not None:
            channel.remove(box)
            if not channel.outboxes:
                self.channels.pop(base, None)

    async def close(self) -> None:
        for channel in list(self.channels.values()):
            channel.outboxes.clear()
            if channel.task is not None:
                channel.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await channel.task
        self.channels.clear()
