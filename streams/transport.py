"""Faust transport: a configurable fetch wait, and a fix for records lost after a rebalance.

Fetch wait: Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for worker consumers. Apache
Kafka answers a long-poll fetch as soon as data arrives, so that is harmless there; the
embedded Tansu broker holds every fetch for the full wait (measured: latency = wait), so the
embedded profile needs a short wait. See docs/embedded.md.

Lost records (faust-streaming 0.15.3, any broker): when a worker takes partitions and a table
has a changelog to recover, the recovery starts the fetcher, then resumes the stream
partitions *before* it seeks them to their committed offsets. Records fetched in between are
delivered, and the drain loop then writes their offsets over the read offsets the seek has
just set. When the seek's records arrive they look older than what was read and are
dropped as duplicates, while the records delivered before the seek were cleared from the
agents' buffers: they are never processed (measured: 1-118 of 400 alarms in about one
restart of four, ``bench/restart_probe.py``). The drain loop below is Faust's own, with one
change: a seek starts a new generation, and records fetched before it are neither delivered
nor allowed to move the read offset. The seek's own fetch redelivers them.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
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
    tike_stale_dropped = 0

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def tike_seeks(self) -> dict[Any, int]:
        """Seeks per partition; a record fetched before its partition's last seek is stale."""
        seeks: dict[Any, int] | None = self.__dict__.get("_tike_seeks")
        if seeks is None:
            seeks = self.__dict__["_tike_seeks"] = {}
        return seeks

    def _seeked(self, tps: Any) -> None:
        seeks = self.tike_seeks
        for tp in tps:
            seeks[tp] = seeks.get(tp, 0) + 1

    async def perform_seek(self) -> None:
        # Faust's perform_seek, and every partition it moved starts a new generation.
        read_offset = self._read_offset
        committed = await self.seek_to_committed()
        self._seeked(set(committed) | set(self.assignment()))
        read_offset.update(
            {tp: off if off is not None and off >= 0 else None for tp, off in committed.items()}
        )
        known = {tp: off for tp, off in committed.items() if off is not None}
        self._committed_offset.update({ensure_TP(tp): off or None for tp, off in known.items()})

    async def seek(self, partition: Any, offset: int) -> None:
        await super().seek(partition, offset)
        self._seeked([ensure_TP(partition)])

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
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                seeks = self.tike_seeks
                generation = dict(seeks)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        if seeks.get(tp, 0) != generation.get(tp, 0):
                            self.tike_stale_dropped += 1
                            continue  # fetched before a seek: the seek's fetch brings it
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                            if seeks.get(tp, 0) == generation.get(tp, 0):
                                set_read_offset(tp, offset)
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
