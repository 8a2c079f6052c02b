"""Device supervision agent and timer. The logic is in :mod:`tike.devices`.

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

from pydantic import ValidationError

from streams import metrics
from streams.context import StreamContext, encode
from streams.errors import RawRecord
from streams.keyed_state import KeyedState
from tike import topics
from tike.decode import Reason, Rejection
from tike.devices import is_overdue, observe, silence_check, worth_writing
from tike.records import DeviceObservation

log = logging.getLogger(__name__)
#: ``last_seen`` is written to the changelog when it moved this share of the heartbeat
#: timeout (or anything else changed): 90 s of the default 900 s.
STATE_WRITE_FRACTION = 0.1


def register(ctx: StreamContext) -> None:
    app = ctx.app
    settings = ctx.settings
    timeout = timedelta(seconds=settings.heartbeat_timeout_s)
    #: How far ``last_seen`` may run ahead of the changelog (tike.devices.worth_writing).
    write_every = timeout * STATE_WRITE_FRACTION
    devices = KeyedState(settings.kafka_bootstrap, topics.DEVICE_STATE, ctx.send,
                         settings.fetch_wait_ms)  # fmt: skip

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
            try:
                obs = DeviceObservation.model_validate_json(msg.value)
            except (ValidationError, ValueError) as exc:
                record = RawRecord(
                    topics.DEVICE_OBSERVATIONS, msg.partition, msg.offset, msg.key, msg.value
                )
                await on_error(record, Rejection(Reason.INVALID_FIELDS, str(exc)[:500]))
                continue
            part = await devices.part(msg.partition)
            before = part.get(obs.device_id)
            result = observe(before, obs, datetime.now(UTC), timeout)
            if result.state:
                written = devices.last_written(msg.partition, obs.device_id)
                durable = worth_writing(before, result.state, written, write_every)
                await devices.put(msg.partition, obs.device_id, result.state, durable)
            for item in result.emits:
                if item.topic == topics.INTAKE:
                    metrics.DEVICES_SILENT.labels(obs.region).inc()
                    log.warning("device %s is silent", obs.device_id)
                await ctx.emit(item)

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
