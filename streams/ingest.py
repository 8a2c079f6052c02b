"""Ingest agents: decode, validate and normalise each input topic. Thin: the logic is the
:class:`~tike_core.stage.IngestStage`."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from streams import metrics
from streams.context import StreamContext
from streams.devices import DeviceSupervisor
from tike import topics
from tike.records import DeviceObservation
from tike_core.decode import Rejection
from tike_core.stage import IngestStage, RawRecord

log = logging.getLogger(__name__)

INPUTS: dict[str, str] = {kind: topic for topic, kind in topics.INPUT_KINDS.items()}


def stage_of(ctx: StreamContext, kind: str) -> IngestStage:
    """The ingest stage of input ``kind`` with the worker's registry and limits."""
    s = ctx.settings
    return IngestStage(kind, ctx.registry, s.max_message_bytes, s.max_future_skew_s)


def _make_agent(ctx: StreamContext, kind: str, topic_name: str, devices: DeviceSupervisor) -> None:
    assert ctx.on_error is not None
    on_error = ctx.on_error
    stage = stage_of(ctx, kind)

    async def ingest(stream: Any) -> None:
        async for event in ctx.events(stream):
            msg = event.message
            metrics.EVENTS_IN.labels(topic_name).inc()
            record = RawRecord(topic_name, msg.partition, msg.offset, msg.key, msg.value)
            started = time.perf_counter()
            result = stage(record, datetime.now(UTC))
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
