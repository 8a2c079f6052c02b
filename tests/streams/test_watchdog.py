"""The watchdog stops the worker (exit code 70) instead of idling while alive."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streams.watchdog import EXIT_CODE, Watchdog


class Exit:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


async def test_crashed_agent_stops_the_worker() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=60, exit=exit_)

    async def agent(stream: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await dog.guard("tike.x", agent)(None)
    assert exit_.codes == [EXIT_CODE] and dog.fired == "agent tike.x crashed: RuntimeError: boom"


async def test_agent_that_returns_stops_the_worker_unless_shutting_down() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=60, exit=exit_)

    async def agent(stream: Any) -> None:
        return None

    dog.stopping = True
    await dog.guard("tike.x", agent)(None)
    assert exit_.codes == []
    dog.stopping = False
    await dog.guard("tike.x", agent)(None)
    assert exit_.codes == [EXIT_CODE] and dog.fired == "agent tike.x stopped"


async def test_cancelled_agent_is_a_normal_stop() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=60, exit=exit_)

    async def agent(stream: Any) -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(dog.guard("tike.x", agent)(None))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert exit_.codes == []


def test_partition_with_waiting_records_and_no_progress_stops_the_worker() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=0.2, exit=exit_)
    dog.processed("tike.needs", 0, 9)  # next offset 10
    dog.check_partitions({("tike.needs", 0): 10, ("tike.needs", 1): 5})
    assert exit_.codes == []  # caught up; partition 1 not consumed yet
    dog.check_partitions({("tike.needs", 0): 15})
    assert exit_.codes == []  # records waiting, but not for long
    time.sleep(0.3)
    dog.check_partitions({("tike.needs", 0): 15})
    assert exit_.codes == [EXIT_CODE] and "tike.needs[0] stalled: 5 records waiting" in dog.fired


def test_progress_resets_the_stall_clock() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=0.2, exit=exit_)
    dog.processed("t", 0, 0)
    for offset in range(1, 5):
        time.sleep(0.1)
        dog.processed("t", 0, offset)
        dog.check_partitions({("t", 0): 100})
    assert exit_.codes == []


def test_blocked_event_loop_is_caught_by_the_thread() -> None:
    exit_ = Exit()
    dog = Watchdog(stall_s=0.3, exit=exit_, interval_s=0.05)
    loop = asyncio.new_event_loop()

    async def main() -> None:
        dog.beat()
        dog.start_thread()
        for _ in range(5):
            dog.beat()
            await asyncio.sleep(0.05)
        assert exit_.codes == []
        time.sleep(0.6)  # noqa: ASYNC251 - the loop blocks, as a stuck agent would make it

    try:
        loop.run_until_complete(main())
    finally:
        dog.stopping = True
        loop.close()
    assert exit_.codes == [EXIT_CODE] and dog.fired.startswith("event loop blocked")
