"""Faust transport: a configurable fetch wait, and a fix for records lost after a rebalance.

Fetch wait: Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for worker consumers. Apache
Kafka answers a long-poll fetch as soon as data arrives, so that is harmless there; the
embedded Tansu broker holds every fetch for the full wait (measured: latency = wait), so the
embedded profile needs a short wait. See docs/embedded.md.

Lost records (faust-streaming 0.15.3, any broker): when a worker takes partitions and a table
has a changelog to recover, the recovery starts the fetcher, then resumes the stream
partitions *before* it seeks them to their committed offsets. Records fetched in between are
handed to the agents (some are abandoned when the flow is suspended), and the drain loop then
writes their offsets over the read offsets the seek has just set. When the seek's fetch
brings them again they look older than what was read, and Faust drops them as duplicates:
they are never processed (measured before the fix: 1-200 of 400 alarms in about one restart
of four, ``bench/restart_probe.py``). The drain loop below is Faust's own with two changes:
a record fetched again is delivered again (no "already read" drop), and a record whose
hand-over loses the race against a flow suspension is fetched again when the flow resumes
(Faust forgets it, and unless a seek follows nothing fetches it again: one alarm of 400 was
lost so in a CI run with only the first change). Waiting out the suspension instead
deadlocks the changelog recovery, which reads through the same loop. Tike is at-least-once
with idempotent effects, so a redelivery costs a duplicate that is recognised, never a loss.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "tike_fetch_max_wait_ms", None)
        if wait is not None:
            # Read by AIOKafkaConsumer.start() when it builds its Fetcher.
            consumer._fetch_max_wait_ms = int(wait)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _refetch(self, abandoned: dict[Any, int]) -> None:
        """Move each partition back to its oldest abandoned record, unless a seek (the
        rebalance's own) already has it at or before that record."""
        assigned = self.assignment()
        for tp, offset in list(abandoned.items()):
            del abandoned[tp]
            if tp not in assigned:
                continue  # the new owner starts from the committed offset
            position = await self.position(tp)
            if position is None or position > offset:
                self.log.info("fetching %s[%s] again from %s (abandoned at a flow suspension)",
                              tp.topic, tp.partition, offset)  # fmt: skip
                await self.seek(tp, offset)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every, num_since_yield = 100, 0
        # The last offset this loop delivered per partition: gaps (compaction, markers) are
        # measured from it, not from a read offset a seek has moved meanwhile.
        delivered: dict[Any, int] = {}
        # Records handed over too late (the flow was suspended): the lowest offset per partition.
        abandoned: dict[Any, int] = {}
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                if abandoned and not self.suspend_flow.is_set():
                    await self._refetch(abandoned)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        # Faust drops a record below the read offset as already read; here it
                        # is delivered again (at-least-once: every effect is idempotent).
                        last = delivered.get(tp)
                        base = get_read_offset(tp) if last is None else last
                        if base and offset - base > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, base + 1, offset - 1)  # Faust: offset
                        delivered[tp] = offset
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        # The hand-over races a flow suspension (a rebalance or recovery must
                        # not wait for a full buffer). Faust forgets a record that loses the race;
                        # here it is remembered, and fetched again once the flow resumes.
                        handing = callback(message)
                        won = await self.wait_first(handing, self.suspend_flow.wait())
                        if handing in won.done:
                            set_read_offset(tp, offset)
                        else:
                            abandoned[tp] = min(abandoned.get(tp, offset), offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
