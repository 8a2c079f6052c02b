"""Ruleset activations: what is published on ``tike.rules`` and how the active one is chosen.

Every worker reads the whole (compacted, single-partition) topic in order; the newest record
that validates is in force. A record that fails validation is refused and the ruleset already
in force stays. Pure: the Kafka I/O is in :mod:`streams.rules_store`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.engine import Router
from rules.loader import RuleFileError
from tike import pii
from tike.regions import Registry


class RulesetActivation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ruleset_activation"] = "ruleset_activation"
    schema_version: Literal[1] = 1
    ruleset: str
    version: str
    checksum: str
    text: str = Field(max_length=1 << 20)
    comment: str = Field(min_length=1, max_length=500)
    activated_by: str = Field(min_length=1, max_length=120)
    activated_at: datetime

    @field_validator("comment", "activated_by")
    @classmethod
    def _no_identity_code(cls, value: str) -> str:
        if pii.contains_code(value):
            raise ValueError("holds a personal identity code")
        return value

    @property
    def label(self) -> str:
        return f"{self.ruleset}@{self.version}"


@dataclass(frozen=True, slots=True)
class Refusal:
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class Applied:
    offset: int
    activation: RulesetActivation
    router: Router


def apply(raw: bytes, offset: int, registry: Registry) -> Applied | Refusal:
    """Validate one record of ``tike.rules``; never raises."""
    try:
        act = RulesetActivation.model_validate_json(raw)
    except (ValidationError, ValueError) as exc:
        return Refusal(offset, f"not a ruleset activation: {str(exc)[:300]}")
    try:
        router = Router.from_text(act.text, f"tike.rules@{offset}", registry)
    except RuleFileError as exc:
        return Refusal(offset, f"{act.label} does not validate: {str(exc)[:500]}")
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # never raises
        return Refusal(offset, f"{act.label} cannot be read: {type(exc).__name__}")
    if router.ruleset.label != act.label:
        return Refusal(offset, f"record says {act.label} but its text is {router.ruleset.label}")
    return Applied(offset, act, router)


def history(records: Iterable[tuple[int, bytes]], registry: Registry) -> list[Applied | Refusal]:
    return [apply(raw, offset, registry) for offset, raw in records]


def active(results: Iterable[Applied | Refusal]) -> Applied | None:
    """The newest valid activation."""
    last = None
    for r in results:
        if isinstance(r, Applied):
            last = r
    return last
