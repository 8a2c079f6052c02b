"""The situation stage: one input record of a region partition in, at most one journal record
out. The agent (streams/situation.py) holds one per partition it owns, feeds it records and
the clock, and publishes what it returns; everything else about the record is decided here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from tike import logs, topics
from tike_core.situation.machine import Record, Situation

#: The inputs of the situation, all keyed by region and co-partitioned.
INPUTS = (topics.INTAKE, topics.TEAM_STATE, topics.CALLS, topics.REGION_COMMANDS)


@dataclass(frozen=True, slots=True)
class Step:
    """What one input did. At most one of ``record``, ``duplicate`` and ``error`` is set;
    none is set when the input changed nothing."""

    #: The journal record to publish (its ``outputs`` go once it is on the broker).
    record: Record | None = None
    #: The state already holds this input: a redelivery, dropped.
    duplicate: bool = False
    #: The input could not be applied (not a JSON object, or a bug): dead-letter it.
    error: Exception | None = None
    #: The decoded input, when it decoded.
    value: dict[str, Any] | None = None
    #: Seconds spent deciding a need (``tike.intake`` only).
    decide_s: float | None = None


class SituationStage:
    """The situation of one region partition, applying input records one at a time."""

    def __init__(self, situation: Situation) -> None:
        self.situation = situation

    def __call__(self, topic: str, raw: bytes | None, cause: dict[str, Any], now: datetime) -> Step:
        """Apply the record ``raw`` of ``topic`` (at ``cause``: topic, partition, offset)."""
        sit = self.situation
        try:
            value = orjson.loads(raw)  # type: ignore[arg-type]  # None fails here, as it should
            logs.bind_from(value)
            if sit.redelivered(topic, value):
                return Step(duplicate=True, value=value)
        except Exception as exc:  # not a JSON object: a bad record must not stop the region
            return Step(error=exc)
        try:
            if topic == topics.INTAKE:
                started = time.perf_counter()
                record = sit.on_need(value, now, cause)
                return Step(record=record, value=value, decide_s=time.perf_counter() - started)
            return Step(record=self.command(topic, value, cause, now), value=value)
        except Exception as exc:  # a bad record or a bug must not stop the region
            return Step(error=exc, value=value)

    def command(
        self, topic: str, value: dict[str, Any], cause: dict[str, Any], now: datetime
    ) -> Record | None:
        sit = self.situation
        if topic == topics.TEAM_STATE:
            return sit.on_team_state(value, now, cause)
        if topic == topics.CALLS:
            return sit.on_call(value, now, cause)
        kind = value.get("kind")
        if kind == "team_event":
            return sit.on_team_event(value, now, cause)
        if kind == "control_action":
            return sit.on_control(value, now, cause)
        if kind == "tick":
            return sit.on_tick(now, cause)
        raise ValueError(f"unknown region command kind {kind!r}")

    def tick(self, now: datetime) -> Record | None:
        """Offer time-outs, SLAs and KPIs: a clock step, not an input record."""
        return self.situation.on_tick(now, None)
