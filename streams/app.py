"""The Faust app. Built by :func:`create_app`; agent modules are registered explicitly."""

from __future__ import annotations

import logging
from typing import Any

import faust

from streams import compat, devices, ingest, routing, situation
from streams.context import StreamContext
from streams.errors import ErrorPolicy, deadletter_policy
from streams.fetch_wait import FetchWait
from streams.outbox import Outbox
from streams.transport import Transport
from streams.watchdog import Watchdog
from tike import topics
from tike.regions import load_registry
from tike.settings import WorkerSettings

log = logging.getLogger(__name__)


class TikeApp(faust.App):
    """A Faust app whose consumer fetch wait can be tuned (see streams/transport.py)."""

    tike_fetch_wait: FetchWait | None = None
    #: The situation agent's outputs waiting for their journal records (streams/outbox.py).
    tike_outbox: Outbox | None = None
    watchdog: Watchdog

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


#: Producer batch size per partition (aiokafka waits for a full batch to drain).
PRODUCER_BATCH_BYTES = 512 * 1024


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def faust_settings(settings: WorkerSettings) -> dict[str, Any]:
    """Faust settings, tuned for low latency and a fast-ready single worker.

    - commit every ``commit_interval_s`` (Faust: 2.8 s), fewer replays after a crash;
    - session/rebalance timeout 4 s on the embedded broker (30 s on Kafka), heartbeat every
      session / 5: a killed worker's partitions move in about 1.5 x the session timeout;
    - a smaller stream buffer (Faust: 4096), so backpressure comes sooner;
    - ``stream_wait_empty=False``: a rebalance does not wait for buffers to drain;
    - the producer batches on every broker (``producer_linger_ms``). No Faust table is used:
      agent state is rebuilt to the fetch high watermark (streams/keyed_state.py), so the
      embedded broker's wrong ListOffsets answer after a multi-record batch cannot cut a
      recovery short, and one record per batch is no longer needed.
    """
    conf: dict[str, Any] = {
        "broker": broker_urls(settings.kafka_bootstrap),
        "store": "memory://",
        "web_enabled": False,
        "datadir": str(settings.state_dir / settings.app_id),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "topic_allow_declare": True,
        "broker_commit_interval": settings.commit_interval_s,
        "broker_session_timeout": settings.session_timeout,
        "broker_rebalance_timeout": settings.session_timeout,
        "broker_heartbeat_interval": max(0.5, settings.session_timeout / 5),
        "consumer_auto_offset_reset": "earliest",
        "stream_buffer_maxsize": settings.stream_buffer_maxsize,
        "stream_wait_empty": False,
        "producer_acks": -1,
        "producer_linger": settings.producer_linger_ms / 1000,
        # Journal records carry whole entities (a few KiB each): with Faust's 16 KiB batches
        # a send waited for the previous request to drain every two or three records.
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    return conf


def create_app(settings: WorkerSettings, on_error: ErrorPolicy | None = None) -> TikeApp:
    """Build the worker app. ``on_error`` replaces the dead-letter policy (a hook)."""
    app = TikeApp(settings.app_id, **faust_settings(settings))
    app.tike_fetch_wait = FetchWait(hot_ms=settings.fetch_wait_ms, idle_ms=settings.fetch_idle_wait)
    app.watchdog = Watchdog(settings.watchdog_stall_s)
    ctx = StreamContext(app=app, settings=settings, registry=load_registry(settings.regions_dir))

    async def send_deadletter(key: bytes, value: bytes) -> None:
        await ctx.send(topics.DEADLETTER, key, value)

    ctx.on_error = on_error or deadletter_policy(send_deadletter)

    @app.task
    async def warm_producer() -> None:
        try:
            await compat.warm_producer(app, [t.name for t in topics.TOPICS])
        except Exception:  # only a first-record latency is at stake
            log.warning("could not load producer metadata ahead", exc_info=True)

    supervisor = devices.register(ctx)
    ingest.register(ctx, supervisor)
    follower = routing.register(ctx)
    situation.register(ctx, follower, app.watchdog)
    return app
