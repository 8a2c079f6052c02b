"""The situation agent's outbox: outputs only after their journal record is delivered."""

from __future__ import annotations

import asyncio

import pytest

from streams.outbox import Outbox


async def test_outputs_wait_for_their_journal_record_and_keep_journal_order() -> None:
    sent: list[str] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append(value.decode())

    outbox = Outbox(send)
    outbox.start()
    first, second = asyncio.get_running_loop().create_future(), asyncio.Future[None]()
    outbox.put(first, [("t", b"k", b"a1"), ("t", b"k", b"a2")])
    outbox.put(second, [("t", b"k", b"b1")])
    second.set_result(None)  # the later record is acknowledged first
    await asyncio.sleep(0.01)
    assert sent == []  # nothing before the first record is on the broker
    first.set_result(None)
    await outbox.sent_so_far()
    assert sent == ["a1", "a2", "b1"]


async def test_sent_so_far_waits_only_for_records_queued_before_it() -> None:
    async def send(topic: str, key: bytes, value: bytes) -> None:
        return None

    outbox = Outbox(send)
    outbox.start()
    done: asyncio.Future[None] = asyncio.Future()
    done.set_result(None)
    outbox.put(done, [("t", b"k", b"v")])
    waiter = asyncio.ensure_future(outbox.sent_so_far())
    outbox.put(asyncio.Future(), [("t", b"k", b"never")])  # queued after: not waited for
    await asyncio.wait_for(waiter, 1)


async def test_a_failed_journal_write_stops_the_sender_and_wakes_waiters() -> None:
    sent: list[bytes] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append(value)

    outbox = Outbox(send)
    task = outbox.start()
    failed: asyncio.Future[None] = asyncio.Future()
    outbox.put(failed, [("t", b"k", b"lost")])
    waiter = asyncio.ensure_future(outbox.sent_so_far())
    failed.set_exception(RuntimeError("broker said no"))
    with pytest.raises(RuntimeError):
        await task
    await asyncio.wait_for(waiter, 1)
    assert sent == [] and not outbox.running
