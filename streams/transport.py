"""Faust transport with a configurable consumer fetch wait.

Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for worker consumers. Apache Kafka answers a
long-poll fetch as soon as data arrives, so that is harmless there; the embedded Tansu broker
holds every fetch for the full wait (measured: latency = wait), so the embedded profile needs
a short wait. See docs/embedded.md.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


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


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
