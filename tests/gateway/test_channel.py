"""The fan-out channel (gateway/fanout.py Channel): clients in the same state share one frame,
slow clients get one coalesced frame and never slow the others, snapshots and resumes come
from memory. Driven tick by tick, without Redis (the reader's input is appended directly)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from gateway import metrics
from gateway.fanout import Channel, Hub, Subscriber
from gateway.wire import Frame


class FakeStore:
    def __init__(self, epoch: str, seq: int, items: list[dict[str, Any]]) -> None:
        self.state = (epoch, seq, items)
        self.calls = 0
        self.redis = object()

    async def snapshot(self, base: str) -> tuple[str, int, list[dict[str, Any]]]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.state


class FakeSink:
    """A socket: records the exact bytes it was given; ``block()`` is asyncio's high-water
    mark being crossed, ``drain()`` the reader catching up."""

    def __init__(self, fmt: int = 12) -> None:
        self.fmt = fmt
        self.listener: Any = None
        self.blocked = False
        self.got: list[bytes] = []
        self.frames: list[dict[str, Any]] = []

    @property
    def paused(self) -> bool:
        return self.blocked

    def write(self, frame: Frame) -> bool:
        self.got.append(frame.wire(self.fmt))
        self.frames.append(orjson.loads(frame.text))
        return True

    def block(self) -> None:
        self.blocked = True
        if self.listener:
            self.listener(True)

    def drain(self) -> None:
        self.blocked = False
        if self.listener:
            self.listener(False)


def _need(i: int, v: int) -> dict[str, Any]:
    data = {"v": v, "timeline": ["offered to EP-SR-01"] * 8}
    return {"entity": "need", "id": f"n{i}", "version": v, "op": "upsert", "data": data}


def _key(item: dict[str, Any]) -> str:
    return f"{item['entity']}:{item['id']}"


def _channel(store: FakeStore | None = None, **hub: Any) -> Channel:
    store = store or FakeStore("e1", 0, [])
    channel = Hub(store, reader=object(), **hub).channel("tike:board:r", "board", _key)  # type: ignore[arg-type]
    channel.started, channel.epoch = True, "e1"  # as start() does, without the Redis reader
    return channel


def _join(channel: Channel, n: int, pos: int = 0, **sink: Any) -> list[FakeSink]:
    sinks = [FakeSink(**sink) for _ in range(n)]
    for s in sinks:
        channel.join(Subscriber(s, lambda: None), "e1", pos)
    return sinks


def _built(kind: str = "deltas") -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "tike_gateway_ws_frames_built_total", {"channel": "board", "type": kind}
        )
        or 0.0
    )


async def test_clients_in_the_same_state_get_the_same_bytes_from_one_encoding() -> None:
    for n in (10, 1000):
        channel = _channel()
        sinks = _join(channel, n)
        plain = _join(channel, 3, fmt=0)
        channel._append(1, _need(1, 1))
        channel._append(2, _need(2, 1))
        channel._append(3, _need(1, 2))
        before = _built()
        channel._deliver()
        assert _built() - before == 1  # one frame, whatever the number of clients
        (first,) = sinks[0].got
        assert all(s.got[0] is first for s in sinks)  # the very same bytes object
        assert all(s.got[0] is plain[0].got[0] for s in plain)
        assert first != plain[0].got[0]  # compressed once for the deflate clients
        frame = sinks[0].frames[0]
        assert frame["seq"] == 3 and [i["id"] for i in frame["items"]] == ["n2", "n1"]
        assert frame["items"][1]["version"] == 2  # newest per entity
        channel._deliver()  # nothing new: nothing sent
        assert {len(s.got) for s in sinks} == {1}


async def test_a_blocked_client_gets_one_coalesced_frame_and_never_holds_the_others() -> None:
    channel = _channel()
    fast, slow = _join(channel, 2)
    channel._append(1, _need(1, 1))
    channel._deliver()
    slow.block()
    for v in range(2, 40):  # many changes of two entities while the slow one is blocked
        channel._append(v, _need(v % 2, v))
        channel._deliver()
    assert len(fast.got) == 39 and len(slow.got) == 1
    assert len(channel.paused) == 1
    slow.drain()
    before = _built()
    channel._deliver()
    assert _built() - before == 1
    assert len(slow.got) == 2 and len(fast.got) == 39
    catch_up = slow.frames[-1]
    assert catch_up["seq"] == 39
    assert sorted((i["id"], i["version"]) for i in catch_up["items"]) == [("n0", 38), ("n1", 39)]
    channel._append(40, _need(3, 1))
    channel._deliver()  # both at the same position again: one frame for both
    assert slow.got[-1] is fast.got[-1]


async def test_blocked_clients_cost_no_work_per_tick() -> None:
    channel = _channel()
    sinks = _join(channel, 200)
    for s in sinks[1:]:
        s.block()
    assert sum(len(b) for b in channel.buckets.values()) == 1
    assert len(channel.paused) == 199
    channel._append(1, _need(1, 1))
    channel._deliver()
    assert len(sinks[0].got) == 1 and not any(s.got for s in sinks[1:])


async def test_a_client_blocked_past_the_send_timeout_is_closed() -> None:
    channel = _channel(send_timeout_s=0.05)
    slow_called: list[bool] = []
    sink = FakeSink()
    channel.join(Subscriber(sink, lambda: slow_called.append(True)), "e1", 0)
    sink.block()
    await asyncio.sleep(0.1)
    assert slow_called == [True]
    again = FakeSink()
    channel.join(Subscriber(again, lambda: slow_called.append(False)), "e1", 0)
    again.block()
    await asyncio.sleep(0)
    again.drain()  # took its frame before the timeout
    await asyncio.sleep(0.15)
    assert slow_called == [True]


async def test_a_client_behind_the_ring_or_the_limit_gets_a_snapshot() -> None:
    store = FakeStore("e1", 100, [_need(i, 9) for i in range(3)])
    channel = _channel(store, ring=10, limit=5)
    early, ok = _join(channel, 1, pos=0), _join(channel, 1, pos=95)
    for seq in range(1, 101):  # the ring keeps 10-20 of them
        channel._append(seq, _need(seq, 1))
    assert channel.floor > 0
    channel._deliver()
    await asyncio.sleep(0.05)  # the resync task reads one snapshot
    assert early[0].frames[0]["type"] == "snapshot" and early[0].frames[0]["seq"] == 100
    assert [f["type"] for f in ok[0].frames] == ["deltas"] and ok[0].frames[0]["seq"] == 100
    wide = _join(channel, 1, pos=channel.floor)  # ring reaches, but 6+ entities changed
    channel._deliver()
    await asyncio.sleep(0.05)
    assert wide[0].frames[0]["type"] == "snapshot"
    assert store.calls == 1  # one read, then the cached snapshot


async def test_a_burst_of_connects_reads_and_encodes_the_snapshot_once() -> None:
    store = FakeStore("e1", 7, [_need(i, 1) for i in range(50)])
    channel = _channel(store, snapshot_lag=3)
    channel.last = channel.floor = 7
    snaps = await asyncio.gather(*(channel.snapshot() for _ in range(100)))
    assert store.calls == 1 and all(s.frame is snaps[0].frame for s in snaps)
    for seq in (8, 9, 10):
        channel._append(seq, _need(seq, 1))
    assert (await channel.snapshot()).frame is snaps[0].frame  # 3 changes old: still served
    channel._append(11, _need(11, 1))
    store.state = ("e1", 11, [])
    assert (await channel.snapshot()).seq == 11 and store.calls == 2


async def test_a_resume_gets_only_the_missed_changes_from_memory() -> None:
    channel = _channel()
    for seq in range(1, 6):
        channel._append(seq, _need(seq, 1))
    frame = channel.resumed("e1", 3)
    assert frame is not None and frame is channel.resumed("e1", 3)  # shared per position
    body = orjson.loads(frame.text)
    assert body["resumed"] is True and body["seq"] == 5
    assert [i["id"] for i in body["items"]] == ["n4", "n5"]
    current = channel.resumed("e1", 5)
    assert current is not None and orjson.loads(current.text)["items"] == []
    assert channel.resumed("e0", 3) is None  # another epoch: snapshot
    assert channel.resumed("e1", 9) is None  # ahead of this process: asks Redis


async def test_a_team_channel_serves_its_cached_snapshot_only_while_nothing_changed() -> None:
    store = FakeStore("e1", 4, [])
    hub = Hub(store, reader=object(), snapshot_lag=200)  # type: ignore[arg-type]
    channel = hub.channel("tike:team:t1", "team", _key, catch_up=False)
    channel.started, channel.epoch, channel.last, channel.floor = True, "e1", 4, 4
    first = await channel.snapshot()
    assert (await channel.snapshot()).frame is first.frame and store.calls == 1
    channel._append(5, _need(1, 1))
    store.state = ("e1", 5, [])
    assert (await channel.snapshot()).seq == 5 and store.calls == 2
