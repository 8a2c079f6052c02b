"""What a stage sees and gives: raw input records, and the records to produce.

A stage is the per-record logic of one agent as plain code: the agent (streams/) only moves
records between Kafka and it, and :func:`tike_core.testing.run_stage` runs it on a list of
records without a broker. The ingest stage is here; the situation stage is in
:mod:`tike_core.situation.stage`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tike import logs
from tike.records import DeviceObservation, Origin
from tike.regions import Registry
from tike_core.decode import Reason, Rejection, decode
from tike_core.normalise import Emit, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record as Kafka gave it."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class IngestStage:
    """Decode, validate and normalise the records of one input topic (``kind``)."""

    kind: str
    registry: Registry
    max_message_bytes: int
    max_future_skew_s: float

    def __call__(self, record: RawRecord, now: datetime) -> list[Emit] | Rejection:
        """The records to produce, or why the input is rejected. Never raises: a bug becomes
        a rejection, and the record is kept on the dead-letter topic."""
        try:
            event = decode(record.value, self.kind, self.max_message_bytes)
            if isinstance(event, Rejection):
                return event
            logs.bind(event_id=event.event_id)
            origin = Origin(
                event_id=event.event_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            return normalise(event, self.registry, origin, now, self.max_future_skew_s)
        except Exception as exc:  # a bug must not stop the worker, and the record is kept
            log.exception(
                "internal error on %s[%s]@%s", record.topic, record.partition, record.offset
            )
            return Rejection(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:500])


def device_observation(record: RawRecord) -> DeviceObservation | Rejection:
    """An observation on ``tike.devices.observations``, or why it is unusable."""
    try:
        return DeviceObservation.model_validate_json(record.value or b"")
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        return Rejection(Reason.INVALID_FIELDS, str(exc)[:500])
