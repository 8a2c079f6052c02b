"""Device supervision agent and timer. The logic is in :mod:`tike_core.devices`.

Observations arrive keyed by device id, so each device's state lives in one partition, in a
:class:`~streams.keyed_state.KeyedState` whose changelog is ``tike.devices.state``. The timer
does not write state (it runs outside any event): it sends a ``silence_check`` observation to
the device's own partition, and the agent decides there.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from streams import metrics
from streams.context import StreamContext, encode
from streams.keyed_state import KeyedState
from tike import topics
from tike.records import DeviceObservation
from tike_core.decode import Rejection
from tike_core.devices import is_overdue, observe, silence_check, worth_writing
from tike_core.stage import RawRecord, device_observation

log = logging.getLogger(__name__)
#: ``last_seen`` is written to the changelog when it moved this share of the heartbeat
#: timeout (or anything else changed): 90 s of the default 900 s.
STATE_WRITE_FRACTION = 0.1


class DeviceSupervisor:
    """The device states of the partitions this worker holds, and the supervision step.

    Observations reach :meth:`observe` from the device agent (``tike.devices.observations``)
    or, when the raw alarm's partition already is its device's partition, straight from the
    ingest agent (:meth:`is_local`): one hop and one record fewer per heartbeat or alarm."""

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.timeout = timedelta(seconds=settings.heartbeat_timeout_s)
        #: How far ``last_seen`` may run ahead of the changelog (tike_core.devices.worth_writing).
        self.write_every = self.timeout * STATE_WRITE_FRACTION
        self.states = KeyedState(
            settings.kafka_bootstrap, topics.DEVICE_STATE, ctx.send, settings.fetch_wait_ms
        )
        self._partitioner = DefaultPartitioner()

    def is_local(self, topic: str, partition: int, key: bytes | None, device_id: str) -> bool:
        """Whether a raw record of ``topic`` keyed by its device id sits in the partition
        its observation would go to: then this worker holds that device's state (Faust
        assigns equal partitions of co-subscribed topics of one size to one worker)."""
        if key is None or key != device_id.encode():
            return False
        consumer = self.ctx.app.consumer
        count = consumer.topic_partitions(topics.DEVICE_OBSERVATIONS)
        if not count or consumer.topic_partitions(topic) != count:
            return False
        return bool(self._partitioner(key, list(range(count)), None) == partition)

    async def observe(self, partition: int, obs: DeviceObservation) -> None:
        part = await self.states.part(partition)
        before = part.get(obs.device_id)
        result = observe(before, obs, datetime.now(UTC), self.timeout)
        if result.state:
            written = self.states.last_written(partition, obs.device_id)
            durable = worth_writing(before, result.state, written, self.write_every)
            await self.states.put(partition, obs.device_id, result.state, durable)
        for item in result.emits:
            if item.topic == topics.INTAKE:
                metrics.DEVICES_SILENT.labels(obs.region).inc()
                log.warning("device %s is silent", obs.device_id)
            await self.ctx.emit(item)


def register(ctx: StreamContext) -> DeviceSupervisor:
    app = ctx.app
    settings = ctx.settings
    supervisor = DeviceSupervisor(ctx)
    devices, timeout = supervisor.states, supervisor.timeout

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        devices.forget()

    app.on_partitions_revoked.connect(on_revoked)

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        for tp in assigned:
            if tp.topic == topics.DEVICE_OBSERVATIONS:
                devices.warm(tp.partition)

    app.on_partitions_assigned.connect(on_assigned)
    assert ctx.on_error is not None
    on_error = ctx.on_error
    #: device id -> monotonic time a silence check was last sent (avoid re-sending).
    checks_sent: dict[str, float] = {}

    async def supervise(stream: Any) -> None:
        async for event in ctx.events(stream):
            msg = event.message
            metrics.EVENTS_IN.labels(topics.DEVICE_OBSERVATIONS).inc()
            record = RawRecord(
                topics.DEVICE_OBSERVATIONS, msg.partition, msg.offset, msg.key, msg.value
            )
            obs = device_observation(record)
            if isinstance(obs, Rejection):
                await on_error(record, obs)
                continue
            await supervisor.observe(msg.partition, obs)

    ctx.agent(topics.DEVICE_OBSERVATIONS, "tike.devices")(supervise)

    async def check_silence() -> None:
        now = datetime.now(UTC)
        mono = time.monotonic()
        resend_after = 2 * settings.silence_check_interval_s
        for device_id, sent in list(checks_sent.items()):
            if mono - sent > resend_after:
                del checks_sent[device_id]
        for _, device_id, state in devices.items():
            if not state or device_id in checks_sent or not is_overdue(state, now, timeout):
                continue
            checks_sent[device_id] = mono
            check = silence_check(state, now)
            await ctx.send(topics.DEVICE_OBSERVATIONS, device_id.encode(), encode(check))

    app.timer(settings.silence_check_interval_s, name="tike.devices.silence")(check_silence)
    return supervisor
