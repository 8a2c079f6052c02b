"""Ingest agents: decode, validate and normalise each input topic. Thin: the logic is in
:mod:`tike_core.decode` and :mod:`tike_core.normalise`."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from streams import metrics
from streams.context import StreamContext
from streams.devices import DeviceSupervisor
from streams.errors import RawRecord
from tike import logs, topics
from tike.records import DeviceObservation, Origin
from tike_core.decode import Reason, Rejection, decode
from tike_core.normalise import Emit, normalise

log = logging.getLogger(__name__)

INPUTS: dict[str, str] = {
    "safety_alarm": topics.ALARMS,
    "transport_request": topics.TRANSPORTS,
    "call_116117": topics.CALLS_116117,
    "team_status": topics.TEAM_STATUS,
    "team_event": topics.TEAM_EVENTS,
    "control_action": topics.CONTROL,
}


def process(ctx: StreamContext, kind: str, record: RawRecord) -> list[Emit] | Rejection:
    """Decode and normalise one raw record. Never raises: a bug becomes a rejection."""
    try:
        event = decode(record.value, kind, ctx.settings.max_message_bytes)
        if isinstance(event, Rejection):
            return event
        logs.bind(event_id=event.event_id)
        origin = Origin(
            event_id=event.event_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return normalise(
            event, ctx.registry, origin, datetime.now(UTC), ctx.settings.max_future_skew_s
        )
    except Exception as exc:  # a bug must not stop the worker, and the record is kept
        log.exception("internal error on %s[%s]@%s", record.topic, record.partition, record.offset)
        return Rejection(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:500])


def _make_agent(ctx: StreamContext, kind: str, topic_name: str, devices: DeviceSupervisor) -> None:
    assert ctx.on_error is not None
    on_error = ctx.on_error

    async def ingest(stream: Any) -> None:
        async for event in ctx.events(stream):
            msg = event.message
            metrics.EVENTS_IN.labels(topic_name).inc()
            record = RawRecord(topic_name, msg.partition, msg.offset, msg.key, msg.value)
            started = time.perf_counter()
            result = process(ctx, kind, record)
            metrics.INGEST_SECONDS.labels(topic_name).observe(time.perf_counter() - started)
            if isinstance(result, Rejection):
                await on_error(record, result)
                continue
            for item in result:
                obs = item.record
                if isinstance(obs, DeviceObservation) and devices.is_local(
                    topic_name, msg.partition, msg.key, obs.device_id
                ):
                    metrics.DEVICE_OBSERVATIONS.labels("in_process").inc()
                    await devices.observe(msg.partition, obs)
                    continue
                if isinstance(obs, DeviceObservation):
                    metrics.DEVICE_OBSERVATIONS.labels("topic").inc()
                await ctx.emit(item)

    ctx.agent(topic_name, f"tike.ingest.{kind}")(ingest)


def register(ctx: StreamContext, devices: DeviceSupervisor) -> None:
    for kind, topic_name in INPUTS.items():
        _make_agent(ctx, kind, topic_name, devices)
