"""The situation agent's outputs, sent only once their journal record is on the broker.

Without transactions an output sent beside its journal record could reach the broker while the
journal record does not (a crash between two producer batches, or two brokers). The input
would then be decided again after a restart, possibly differently (another team is free by
then), and a second, different offer would go out. So an output never goes before its journal
record is acknowledged: the agent queues the record's delivery future with its outputs here,
and one task sends the outputs of each record, in journal order, when its future resolves.

The outputs of a journal record are always delivered before the offset of its input is
committed: :class:`~streams.transport.Producer` waits for :meth:`Outbox.sent_so_far` before
Faust's flush-then-commit. A crash between a journal record and its outputs leaves the record
after the last committed input, and the partition's next owner sends them again
(:mod:`tike_core.situation.resend`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

#: ``(topic, key, value)``: queue one record on the producer.
Send = Callable[[str, bytes, bytes], Awaitable[Any]]
#: What one journal record asks to send: ``(topic, key, value)`` each.
Outputs = list[tuple[str, bytes, bytes]]


class Outbox:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._queue: asyncio.Queue[tuple[Awaitable[Any], Outputs]] = asyncio.Queue()
        self._queued = 0  # records queued so far
        self._done = 0  # records whose outputs are on the producer
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def put(self, journal_delivery: Awaitable[Any], outputs: Outputs) -> None:
        """Send ``outputs`` when ``journal_delivery`` (the journal record's future) resolves."""
        self._queued += 1
        self._queue.put_nowait((journal_delivery, outputs))

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        return self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        try:
            while True:
                delivery, outputs = await self._queue.get()
                await delivery  # raises if the journal record was not written
                for topic, key, value in outputs:
                    await self._send(topic, key, value)
                async with self._progress:
                    self._done += 1
                    self._progress.notify_all()
        finally:  # wake any waiter: nothing more will be sent by this worker
            self._task = None
            async with self._progress:
                self._progress.notify_all()

    def sent_so_far(self) -> Awaitable[None]:
        """Wait until the outputs of every record queued before this call are on the producer
        (not yet delivered: the producer's flush does that)."""
        return self._wait_for(self._queued)

    async def _wait_for(self, target: int) -> None:
        if not self.running:
            return  # stopping: what is left is sent again by the partition's next owner
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target or not self.running)
