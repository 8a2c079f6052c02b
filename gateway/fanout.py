"""Fan-out from Redis streams to websocket clients: one encoded frame for many sockets.

Each gateway process runs one :class:`Channel` per stream in use (a region's board, a team's
dispatches), however many clients watch it. The channel's reader keeps the stream's recent
changes in memory (a ring); its ticker sends at most ``TIKE_WS_MAX_FPS`` frames per second.

**Clients in the same state share a frame.** A client's state is its channel and its
position (the ``seq`` of the last change it has); its wire format (plain, or the
permessage-deflate window it negotiated) picks one of the frame's encodings. Clients are kept
in buckets by position. A tick builds, for each position, one ``deltas`` frame with the
newest change per entity since that position (coalesced with :class:`Outbox`), encodes it
once, compresses it once per wire format (gateway/wire.py), and writes the same bytes to
every client of the bucket, which then moves to the newest position. Nearly every client
shares one bucket, so a tick costs a few frame builds plus one socket write per client.

**Slow clients.** A client whose socket stops taking writes (asyncio's high-water mark)
leaves its bucket and costs nothing per tick. When its socket drains it returns at its old
position, and the next tick sends it one coalesced frame from there (shared with any other
client at that position): never a backlog. If the ring no longer reaches back to its
position, or more than ``TIKE_WS_QUEUE_MAX`` entities changed, it gets a fresh snapshot
instead (``reason="coalesced"``); a socket that stays blocked for ``TIKE_WS_SEND_TIMEOUT_S``
is closed by its session (4408, ``reason="closed"``).

**Snapshots** are cached per channel and board version: a burst of connects reads Redis and
encodes the snapshot once, and a client that connects while the cached snapshot is a few
changes old gets it plus one shared catch-up frame. A resume (``?epoch=&seq=``) within the
ring is answered from memory with only the missed changes (also shared per position).

A reader holds a Redis connection for up to a second at a time (``XREAD BLOCK``), so readers
use their own client (``Hub(reader=...)``, one connection per stream in use) and never take
connections from the pool that requests and websocket handshakes share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.store import EPOCH, Store, parse_seq
from gateway.wire import Frame

log = logging.getLogger(__name__)

KeyOf = Callable[[dict[str, Any]], str]
LIVE_S = 60.0


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


class Sink(Protocol):
    """A client's socket as the fan-out sees it (gateway/wire.py ``Socket``, or
    :class:`AsgiSink`). ``listener`` is told when ``paused`` changes."""

    listener: Callable[[bool], None] | None

    @property
    def paused(self) -> bool: ...

    def write(self, frame: Frame) -> bool: ...


class AsgiSink:
    """A :class:`Sink` over plain ASGI (any server, or Starlette's test client): one frame in
    flight at a time, sent as text; the sink counts as paused while it is in flight."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.send_text = send_text
        self.listener: Callable[[bool], None] | None = None
        self.busy = False
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    @property
    def paused(self) -> bool:
        return self.busy

    def write(self, frame: Frame) -> bool:
        if self.closed:
            return False
        self.busy = True
        self.task = asyncio.create_task(self._send(frame.text.decode()))
        return True

    async def _send(self, text: str) -> None:
        try:
            await self.send_text(text)
        except Exception:  # the socket is gone; the session's receive loop ends it
            self.closed = True
            return
        self.busy = False
        if self.listener is not None:
            self.listener(False)

    def close(self) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()


class Subscriber:
    """One websocket client of a channel: its sink, its position and where it waits."""

    __slots__ = ("epoch", "needs_snapshot", "on_slow", "pos", "sink", "slot", "timer")

    def __init__(self, sink: Sink, on_slow: Callable[[], None]) -> None:
        self.sink, self.on_slow = sink, on_slow
        self.pos = 0
        self.epoch: str | None = None
        self.needs_snapshot = False
        self.slot: set[Subscriber] | None = None
        self.timer: asyncio.TimerHandle | None = None


class Snapshot:
    __slots__ = ("epoch", "frame", "seq")

    def __init__(self, epoch: str | None, seq: int, frame: Frame) -> None:
        self.epoch, self.seq, self.frame = epoch, seq, frame


def observe_e2e(items: list[dict[str, Any]], now: float) -> None:
    """Event time of each new need to its first websocket write (once per change)."""
    for item in items:
        data = item.get("data") or {}
        if item.get("entity") == "need" and item.get("version") == 1 and data.get("occurred_at"):
            with contextlib.suppress(ValueError, TypeError):
                took = now - datetime.fromisoformat(data["occurred_at"]).timestamp()
                if 0 <= took < LIVE_S:
                    metrics.E2E_LATENCY.observe(took)


class Channel:
    """One Redis stream and the clients that watch it in this process (see the module doc)."""

    def __init__(
        self, hub: Hub, base: str, name: str, key_of: KeyOf, snapshot_lag: int = 0
    ) -> None:
        self.hub, self.base, self.name, self.key_of = hub, base, name, key_of
        self.snapshot_lag = snapshot_lag
        self.epoch: str | None = None
        self.last = 0  # newest change read
        self.floor = 0  # the ring holds every change after this one
        self.ring: list[tuple[int, dict[str, Any]]] = []
        self.started = False
        self.buckets: dict[int, set[Subscriber]] = {}
        self.paused: set[Subscriber] = set()
        self.resync: set[Subscriber] = set()
        self.members = 0
        self.outboxes: set[Outbox] = set()
        self.frames: dict[tuple[int, bool], Frame | None] = {}
        self.frames_at = -1
        self.observed = 0
        self.snap: Snapshot | None = None
        self.snap_task: asyncio.Task[Snapshot] | None = None
        self.changed = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, epoch: str | None, seq: int) -> None:
        """Begin reading after ``seq`` of ``epoch`` (once; later calls do nothing)."""
        if self.started:
            return
        self.started = True
        self.epoch, self.last, self.floor = epoch, seq, seq
        self.observed = seq
        self._spawn("read", self._read())
        self._spawn("tick", self._tick())

    def _spawn(self, what: str, coro: Any) -> None:
        task = self.tasks.get(what)
        if task is None or task.done():
            self.tasks[what] = asyncio.create_task(coro, name=f"fanout {what} {self.base}")
        else:
            coro.close()

    @property
    def idle(self) -> bool:
        return self.members == 0 and not self.outboxes

    async def stop(self) -> None:
        tasks = [*self.tasks.values()]
        if self.snap_task is not None:
            tasks.append(self.snap_task)  # type: ignore[arg-type]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()

    # --- snapshots and resumes ------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        """The channel's state as one frame: cached while it is current enough, else read
        from Redis once for every caller that asks meanwhile."""
        snap = self.snap
        if (
            snap is not None
            and snap.epoch == self.epoch
            and snap.seq >= self.floor
            and self.last - snap.seq <= self.snapshot_lag
        ):
            return snap
        if self.snap_task is None or self.snap_task.done():
            self.snap_task = asyncio.create_task(self._read_snapshot())
        return await asyncio.shield(self.snap_task)

    async def _read_snapshot(self) -> Snapshot:
        epoch, seq, items = await self.hub.store.snapshot(self.base)
        payload = {"type": "snapshot", "channel": self.name, "epoch": epoch, "seq": seq}
        snap = Snapshot(epoch, seq, Frame({**payload, "items": items}))
        metrics.FRAMES_BUILT.labels(self.name, "snapshot").inc()
        self.start(epoch, seq)
        if epoch == self.epoch:
            self.snap = snap
        return snap

    def resumed(self, epoch: str | None, pos: int) -> Frame | None:
        """The ``resumed`` deltas frame for a client at ``pos`` of ``epoch``, from memory; None
        when memory does not reach back (the caller asks Redis)."""
        if not self.started or epoch != self.epoch or not self.floor <= pos <= self.last:
            return None
        return self._since(pos, resumed=True)

    # --- members --------------------------------------------------------------------------

    def join(self, sub: Subscriber, epoch: str | None, pos: int) -> None:
        """Add a client that has the state at ``pos`` of ``epoch`` (synchronous on purpose:
        nothing can pass between the frame it was sent and this)."""
        sub.epoch, sub.pos = epoch, pos
        sub.sink.listener = lambda paused: self._sink_changed(sub, paused)
        sub.needs_snapshot = epoch != self.epoch
        self._place(sub)

    def leave(self, sub: Subscriber) -> None:
        """The end of a :meth:`Hub.acquire` (joined or not): once per client."""
        if sub.sink.listener is not None:
            sub.sink.listener = None
            self._unslot(sub)
            self._cancel_timer(sub)
        self.members -= 1
        if self.idle:
            self.hub.drop(self)

    def _unslot(self, sub: Subscriber) -> None:
        if sub.slot is not None:
            sub.slot.discard(sub)
            if sub.slot is not self.paused and sub.slot is not self.resync and not sub.slot:
                self.buckets.pop(sub.pos, None)
            sub.slot = None

    def _put(self, sub: Subscriber, slot: set[Subscriber]) -> None:
        slot.add(sub)
        sub.slot = slot

    def _place(self, sub: Subscriber) -> None:
        """Put a client where it waits: for a snapshot, for its socket, or in its bucket."""
        if sub.sink.paused:
            self._put(sub, self.paused)
            self._start_timer(sub)
        elif sub.needs_snapshot:
            self._put(sub, self.resync)
            self._spawn("resync", self._resync())
        else:
            bucket = self.buckets.get(sub.pos)
            if bucket is None:
                bucket = self.buckets[sub.pos] = set()
            self._put(sub, bucket)
            if sub.pos < self.last:
                self.changed.set()

    def _sink_changed(self, sub: Subscriber, paused: bool) -> None:
        if paused:
            self._start_timer(sub)
            if sub.slot is not None and sub.slot is not self.paused:
                self._unslot(sub)
                self._put(sub, self.paused)
        else:
            self._cancel_timer(sub)
            if sub.slot is self.paused:
                self._unslot(sub)
                self._place(sub)

    def _start_timer(self, sub: Subscriber) -> None:
        if sub.timer is None:
            loop = asyncio.get_running_loop()
            sub.timer = loop.call_later(self.hub.send_timeout_s, self._too_slow, sub)

    def _cancel_timer(self, sub: Subscriber) -> None:
        if sub.timer is not None:
            sub.timer.cancel()
            sub.timer = None

    def _too_slow(self, sub: Subscriber) -> None:
        sub.timer = None
        if sub.sink.paused and sub.sink.listener is not None:
            metrics.QUEUE_DROPS.labels(self.name, "closed").inc()
            sub.on_slow()

    # --- frames ---------------------------------------------------------------------------

    def _since(self, pos: int, resumed: bool = False) -> Frame | None:
        """One frame with the newest change per entity after ``pos`` (up to ``last``), or
        None when the ring does not reach back or too many entities changed."""
        if self.frames_at != self.last:
            self.frames.clear()
            self.frames_at = self.last
        key = (pos, resumed)
        if key in self.frames:
            return self.frames[key]
        frame: Frame | None = None
        if pos >= self.floor:
            box = Outbox(self.key_of, self.hub.limit)
            box.drop_through(pos)
            for seq, item in self.ring[bisect_right(self.ring, pos, key=_seq_of) :]:
                box.put(seq, item)
            if not box.needs_snapshot:
                seq, items = box.take()
                payload: dict[str, Any] = {
                    "type": "deltas",
                    "channel": self.name,
                    "epoch": self.epoch,
                    "seq": seq or pos,
                    "items": items,
                }
                if resumed:
                    payload["resumed"] = True
                frame = Frame(payload)
                metrics.FRAMES_BUILT.labels(self.name, "resume" if resumed else "deltas").inc()
        self.frames[key] = frame
        return frame

    def _deliver(self) -> None:
        """One tick: a shared frame for each position behind, written to its clients."""
        last = self.last
        written = items = 0
        for pos in [p for p in self.buckets if p < last]:
            subs = self.buckets.pop(pos)
            frame = self._since(pos)
            if frame is None:
                for sub in subs:
                    sub.slot = None
                    sub.needs_snapshot = True
                    metrics.QUEUE_DROPS.labels(self.name, "coalesced").inc()
                    self._place(sub)
                continue
            target = self.buckets.get(last)
            if target is None:
                target = self.buckets[last] = set()
            n = 0
            for sub in subs:
                sub.slot = None
                if not sub.sink.write(frame):
                    continue  # gone: its session's receive loop ends it and leaves
                n += 1
                sub.pos = last
                if sub.sink.paused:
                    self._put(sub, self.paused)
                    self._start_timer(sub)
                else:
                    target.add(sub)
                    sub.slot = target
            if not target:
                del self.buckets[last]
            written += n
            items += n * frame.items
        if written:
            metrics.FRAMES_OUT.labels(self.name).inc(written)
            metrics.EVENTS_OUT.labels(f"ws:{self.name}").inc(items)
            if self.observed < last:
                start = bisect_right(self.ring, self.observed, key=_seq_of)
                observe_e2e([item for _, item in self.ring[start:]], time.time())
                self.observed = last

    async def _tick(self) -> None:
        gap = 1.0 / self.hub.max_fps
        while True:
            await self.changed.wait()
            self.changed.clear()
            try:
                self._deliver()
            except Exception:
                log.exception("%s: fan-out tick failed", self.base)
            await asyncio.sleep(gap)

    async def _resync(self) -> None:
        """Send a snapshot to every client that needs one (one Redis read for all)."""
        backoff = 0.2
        while self.resync:
            try:
                snap = await self.snapshot()
            except (RedisError, OSError) as exc:
                log.warning("%s: snapshot: %s; retrying in %.1f s", self.base, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if snap.epoch != self.epoch:  # the reader has not seen the new epoch yet
                await asyncio.sleep(0.1)
                continue
            backoff = 0.2
            subs, self.resync = self.resync, set()
            for sub in subs:
                sub.slot = None
                if sub.sink.paused:
                    self._place(sub)
                    continue
                if not sub.sink.write(snap.frame):
                    continue
                metrics.FRAMES_OUT.labels(self.name).inc()
                sub.needs_snapshot = False
                sub.epoch, sub.pos = snap.epoch, snap.seq
                self._place(sub)

    # --- the reader -----------------------------------------------------------------------

    def _reset(self, epoch: str | None) -> None:
        log.info(
            "%s: projection epoch %s -> %s; clients get snapshots", self.base, self.epoch, epoch
        )
        self.epoch, self.last, self.floor, self.observed = epoch, 0, 0, 0
        self.ring.clear()
        self.snap = None
        self.frames.clear()
        self.frames_at = -1
        for box in list(self.outboxes):
            box.reset()
        for slot in [*self.buckets.values(), self.paused]:
            for sub in list(slot):
                sub.needs_snapshot = True
                if slot is not self.paused:
                    sub.slot = None
                    self._place(sub)
        self.buckets.clear()

    def _append(self, seq: int, item: dict[str, Any]) -> None:
        self.last = seq
        self.ring.append((seq, item))
        if len(self.ring) > 2 * self.hub.ring:
            cut = len(self.ring) - self.hub.ring
            self.floor = self.ring[cut - 1][0]
            del self.ring[:cut]
        for box in list(self.outboxes):
            box.put(seq, item)

    async def _read(self) -> None:
        redis = self.hub.reader
        backoff = 0.2
        while True:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.get(EPOCH)
                    pipe.xread({self.base + ":stream": f"{self.last}-1"}, count=500, block=1000)
                    raw_epoch, found = await pipe.execute()
                epoch = raw_epoch.decode() if raw_epoch else None
                if epoch != self.epoch:
                    self._reset(epoch)
                    continue
                backoff = 0.2
                before = self.last
                for _stream, entries in found or ():
                    for eid, fields in entries:
                        seq = parse_seq(eid)
                        if seq > self.last:
                            self._append(seq, orjson.loads(fields[b"d"]))
                if self.last > before:
                    self.changed.set()
            except (RedisError, OSError) as exc:
                log.warning("reading %s: %s; retrying in %.1f s", self.base, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _seq_of(entry: tuple[int, dict[str, Any]]) -> int:
    return entry[0]


class Hub:
    """The channels of this process. ``reader`` is the Redis client of their blocking reads
    (by default the store's own, which is fine only where nothing else shares its pool).

    ``ring``: changes kept in memory per channel (resumes and slow clients within it are
    served from memory); ``limit``: most entities in one coalesced frame (``TIKE_WS_QUEUE_MAX``;
    beyond it a client gets a snapshot); ``snapshot_lag``: how many changes old a cached
    snapshot may be before a connect reads a new one."""

    def __init__(
        self,
        store: Store,
        ring: int = 2000,
        reader: aioredis.Redis | None = None,
        *,
        limit: int = 2000,
        max_fps: float = 10.0,
        send_timeout_s: float = 10.0,
        snapshot_lag: int = 200,
    ) -> None:
        self.store, self.ring = store, ring
        self.reader = reader if reader is not None else store.redis
        self.limit, self.max_fps, self.send_timeout_s = limit, max_fps, send_timeout_s
        self.snapshot_lag = snapshot_lag
        self.channels: dict[str, Channel] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def channel(self, base: str, name: str, key_of: KeyOf, catch_up: bool = True) -> Channel:
        """The channel of ``base``. ``catch_up``: a new client may get a cached snapshot a few
        changes old plus the changes since, coalesced (right where the newest change per
        entity is the state, as on the board; a team's refusals are not entities)."""
        found = self.channels.get(base)
        if found is None:
            lag = self.snapshot_lag if catch_up else 0
            found = self.channels[base] = Channel(self, base, name, key_of, lag)
        return found

    def acquire(self, base: str, name: str, key_of: KeyOf, catch_up: bool = True) -> Channel:
        """The channel of ``base``, kept while the caller uses it: :meth:`Channel.leave` once."""
        channel = self.channel(base, name, key_of, catch_up)
        channel.members += 1
        return channel

    def drop(self, channel: Channel) -> None:
        if self.channels.get(channel.base) is channel:
            del self.channels[channel.base]
        task = asyncio.create_task(channel.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def subscribe(self, base: str, box: Outbox, epoch: str | None, seq: int) -> None:
        """Every change after ``seq`` (a snapshot's) into ``box``, for an in-process consumer
        (websocket clients join a channel instead). Synchronous on purpose: nothing can pass
        between the snapshot's read and the subscription."""
        channel = self.channel(base, "feed", str)
        channel.start(epoch, seq)
        channel.outboxes.add(box)
        box.drop_through(seq)
        if epoch != channel.epoch:
            box.reset()
        elif seq < channel.last:
            if seq >= channel.floor:
                for s, item in channel.ring[bisect_right(channel.ring, seq, key=_seq_of) :]:
                    box.put(s, item)
            else:
                box.reset()

    def unsubscribe(self, base: str, box: Outbox) -> None:
        channel = self.channels.get(base)
        if channel is not None:
            channel.outboxes.discard(box)
            if channel.idle:
                self.drop(channel)

    async def close(self) -> None:
        for channel in list(self.channels.values()):
            await channel.stop()
        self.channels.clear()
        for task in list(self._stopping):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
