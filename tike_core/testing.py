"""Run a stage on a list of records, without Kafka, and get what it would produce: the
``sdf.test()`` of Tike. Every produced record is checked against its output contract
(:mod:`tike.outputs`, :mod:`tike.records`), so a test that runs a stage also tests the
contract of what it publishes.

    outputs = run_stage(IngestStage(...), [RawRecord(topics.ALARMS, 0, 0, b"k", raw)], now)
    assert [o.topic for o in outputs] == [topics.INTAKE]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from tike import topics
from tike.outputs import SITUATION_OUTPUTS
from tike_core.decode import Reason, Rejection
from tike_core.normalise import Emit
from tike_core.situation.stage import SituationStage, Step
from tike_core.stage import IngestStage, RawRecord


@dataclass(frozen=True, slots=True)
class Produced:
    """One record a stage produced: topic, key and the JSON value as a consumer reads it.
    ``partition`` is set when the stage chooses it (the journal: the input's partition)."""

    topic: str
    key: str
    value: dict[str, Any]
    partition: int | None = None


Stage = IngestStage | SituationStage


def run_stage(
    stage: Stage,
    records: Iterable[RawRecord],
    now: datetime | Callable[[RawRecord], datetime],
) -> list[Produced]:
    """Feed ``records`` to ``stage`` in order; return everything it produced, in order.

    A rejected input gives a ``rejection`` on ``tike.deadletter`` (the worker's error policy
    sends it there as a dead letter with the original bytes). A situation input gives its
    journal record and then the outputs that record lists (what the outbox sends once the
    journal record is on the broker)."""
    produced: list[Produced] = []
    for record in records:
        at = now(record) if callable(now) else now
        if isinstance(stage, SituationStage):
            cause = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
            step = stage(record.topic, record.value, cause, at)
            produced += _of_step(step, record, at)
        else:
            result = stage(record, at)
            produced += _of_ingest(result, record, at)
    for item in produced:
        check_contract(item)
    return produced


def tick(stage: SituationStage, now: datetime, partition: int = 0) -> list[Produced]:
    """What a timer tick at ``now`` produces (offer time-outs, SLAs, KPIs)."""
    record = stage.tick(now)
    produced = journaled(record, "tick", partition) if record is not None else []
    for item in produced:
        check_contract(item)
    return produced


def _of_ingest(result: list[Emit] | Rejection, record: RawRecord, at: datetime) -> list[Produced]:
    if isinstance(result, Rejection):
        return [_dead(record, result, at)]
    return [
        Produced(e.topic, e.key, orjson.loads(e.record.__pydantic_serializer__.to_json(e.record)))
        for e in result
    ]


def _of_step(step: Step, record: RawRecord, at: datetime) -> list[Produced]:
    if step.error is not None:
        why = f"situation: {type(step.error).__name__}: {step.error}"
        return [_dead(record, Rejection(Reason.INTERNAL_ERROR, why), at)]
    if step.record is None:
        return []
    key = (record.key or b"").decode()
    return journaled(step.record, key, record.partition)


def journaled(journal: dict[str, Any], key: str, partition: int | None) -> list[Produced]:
    """A journal record and the outputs it lists, as they are published."""
    # Through JSON, as the journal and the outputs travel.
    journal = orjson.loads(orjson.dumps(journal))
    out = [Produced(topics.JOURNAL, key, journal, partition)]
    out += [Produced(o["topic"], o["key"], o["value"]) for o in journal["outputs"]]
    return out


def _dead(record: RawRecord, rejection: Rejection, at: datetime) -> Produced:
    """What the worker's error policy is given (streams/errors.py makes the dead letter of
    it, with the original bytes): the rejected record's coordinates and the reason."""
    value = {
        "kind": "rejection",
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "size": len(record.value or b""),
    }
    return Produced(topics.DEADLETTER, record.topic, value)


def check_contract(item: Produced) -> BaseModel | None:
    """Validate a produced record against the model of its ``kind``; raise if it breaks it.
    Needs, team states, device health and call activity were built from their models already.
    """
    kind = item.value.get("kind")
    model = SITUATION_OUTPUTS.get(str(kind))
    if model is None:
        return None
    return model.model_validate(item.value)
