"""A loaded, validated ruleset: ordered rules of conditions (bitmasks) and routes."""

from __future__ import annotations

from dataclasses import dataclass

from rules.vocabulary import Priority, Service


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    #: The condition as written, for explanations (e.g. ``in [fall_detected, help_button]``).
    text: str
    #: Allowed domain points of the field (bit i = domain index i).
    mask: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Route:
    service: Service | None
    priority: Priority
    sla_minutes: int
    skills: tuple[str, ...] = ()
    fallback: tuple[Service, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    when: tuple[Condition, ...]
    unless: tuple[Condition, ...]
    route: Route
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Ruleset:
    name: str
    version: str
    description: str
    rules: tuple[Rule, ...]
    origin: str
    checksum: str
    text: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)
