"""The projector's retry loop (BoardProjection.run) and its lease watch (LeaseWatch): pure logic.

The projector's Redis and Kafka work is replaced by a scripted ``_acquire``/``_project``; the
Redis client given to it points nowhere and is never used. The real failure (against a real
broker and Redis) is in tests/integration/test_board_projection.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway import metrics
from gateway.board_projection import BoardProjection
from gateway.projection_lease import LeaseWatch
from gateway.store import Store
from tike.settings import GatewaySettings

NOWHERE = "redis://127.0.0.1:1/0"
Step = Callable[[], BaseException | None]


class Scripted(BoardProjection):
    """A projector whose attempts follow ``steps``: each one returns an exception to raise,
    or None to project until cancelled."""

    def __init__(self, steps: list[Step]) -> None:
        super().__init__(
            GatewaySettings(redis_url=NOWHERE), Store(aioredis.Redis.from_url(NOWHERE))
        )
        self.pauses = {"transient": (0.01, 0.04), "unexpected": (0.01, 0.04)}
        self.steps, self.attempts = steps, 0
        self.projecting = asyncio.Event()

    async def _acquire(self) -> bool:
        return True

    async def _project(self) -> None:
        self._set_active(True)
        step = self.steps[min(self.attempts, len(self.steps) - 1)]
        self.attempts += 1
        failure = step()
        if failure is not None:
            raise failure
        self.projecting.set()
        await asyncio.Event().wait()


def _failures(kind: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "tike_gateway_projector_failures_total", {"kind": kind}
    )
    return sample or 0.0


async def test_a_cancelled_error_nobody_asked_for_is_retried_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What aiokafka's consumer stop leaks: a CancelledError while the task is not cancelled."""
    before = _failures("unexpected")
    p = Scripted([asyncio.CancelledError, lambda: RuntimeError("a bug"), lambda: None])
    caplog.set_level(logging.WARNING, logger="gateway.board_projection")
    task = asyncio.create_task(p.run())
    await asyncio.wait_for(p.projecting.wait(), 5)
    assert not task.done() and p.attempts == 3 and p.active
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info[0] for r in errors if r.exc_info] == [asyncio.CancelledError, RuntimeError]
    assert "CancelledError" in errors[0].getMessage()
    assert _failures("unexpected") - before == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not p.active


async def test_transient_errors_are_warnings_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _failures("transient")
    p = Scripted([lambda: RedisConnectionError("Too many connections"), lambda: None])
    caplog.set_level(logging.WARNING, logger="gateway.board_projection")
    task = asyncio.create_task(p.run())
    await asyncio.wait_for(p.projecting.wait(), 5)
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "Too many connections" in warning.getMessage()
    assert _failures("transient") - before == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_pauses_double_up_to_the_most(caplog: pytest.LogCaptureFixture) -> None:
    p = Scripted([lambda: ValueError("again")] * 5 + [lambda: None])
    caplog.set_level(logging.ERROR, logger="gateway.board_projection")
    task = asyncio.create_task(p.run())
    await asyncio.wait_for(p.projecting.wait(), 5)
    waits = [r.args[-1] for r in caplog.records]
    assert waits == [0.01, 0.02, 0.04, 0.04, 0.04]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("where", ["projecting", "pausing"])
async def test_cancelling_the_task_ends_it(where: str) -> None:
    """The gateway's shutdown: a real cancellation is obeyed wherever it lands."""
    p = Scripted([lambda: None] if where == "projecting" else [lambda: ValueError("x")])
    p.pauses = {"transient": (30.0, 30.0), "unexpected": (30.0, 30.0)}
    task = asyncio.create_task(p.run())
    await asyncio.sleep(0.1)
    assert p.attempts == 1 and not task.done()  # projecting, or in its 30 s pause
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert task.cancelled()


def test_lease_watch_reports_the_projection_down_after_a_lease_without_a_holder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = LeaseWatch(aioredis.Redis.from_url(NOWHERE), lease_s=5.0)
    t0 = watch.seen_at
    caplog.set_level(logging.INFO, logger="gateway.projection_lease")
    assert watch.saw(True, t0 + 1) == 0.0 and not watch.down
    assert watch.saw(False, t0 + 5.5) == pytest.approx(4.5) and not watch.down  # within a lease
    assert watch.saw(False, t0 + 6.5) == pytest.approx(5.5) and watch.down
    assert metrics.REGISTRY.get_sample_value("tike_gateway_projection_down") == 1.0
    watch.saw(False, t0 + 7)  # logged once, not on every look
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "board is frozen" in caplog.records[0].getMessage()
    assert watch.saw(True, t0 + 8) == 0.0 and not watch.down
    assert metrics.REGISTRY.get_sample_value("tike_gateway_projection_down") == 0.0
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.INFO]
