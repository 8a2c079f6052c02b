"""Compile a ruleset into one Python function of integer bit tests.

A need is first mapped to a tuple of domain indices, one per field the rules use
(:meth:`Compiled.features`). The generated ``first_match`` tests each rule's bitmasks against
that tuple and returns the index of the first rule that matches. The generated source holds
only integer constants and names made here, so nothing written in a rule file is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules.model import Condition, Ruleset
from rules.vocabulary import WEEKDAYS, Field
from tike.regions import Registry

FeatureFn = Callable[[Mapping[str, Any]], int]


def _enum_index(field: Field) -> FeatureFn:
    index = {v: i for i, v in enumerate(field.values)}
    absent = field.absent
    name = field.name

    def get(need: Mapping[str, Any]) -> int:
        return index.get(need.get(name), absent)  # type: ignore[arg-type]

    return get


def _flags_index(field: Field) -> FeatureFn:
    bits = {v: 1 << i for i, v in enumerate(field.values)}

    def get(need: Mapping[str, Any]) -> int:
        return sum(bits.get(f, 0) for f in need.get("client_flags") or ())

    return get


class LocalClock:
    """Local minute of day and weekday of a need, in its region's time zone."""

    def __init__(self, registry: Registry) -> None:
        self.zones = {rid: ZoneInfo(r.timezone) for rid, r in registry.regions.items()}
        self.default = ZoneInfo("Europe/Helsinki")

    def local(self, need: Mapping[str, Any]) -> datetime:
        at = need.get("occurred_at")
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        return when.astimezone(self.zones.get(need.get("region", ""), self.default))

    def minute(self, need: Mapping[str, Any]) -> int:
        t = self.local(need)
        return t.hour * 60 + t.minute

    def weekday(self, need: Mapping[str, Any]) -> int:
        return self.local(need).weekday()


def feature_fn(field: Field, clock: LocalClock) -> FeatureFn:
    if field.kind == "enum":
        return _enum_index(field)
    if field.kind == "flags":
        return _flags_index(field)
    if field.kind == "time":
        return clock.minute
    return clock.weekday


def _test(cond: Condition, var: str) -> str:
    return f"({cond.mask} >> {var}) & 1"


def _conjunction(conds: tuple[Condition, ...], var: dict[str, str]) -> str:
    return " and ".join(_test(c, var[c.field]) for c in conds)


def generate_source(ruleset: Ruleset, used: list[str]) -> str:
    var = {name: f"f{i}" for i, name in enumerate(used)}
    lines = ["def first_match(v):"]
    if used:
        lines.append(
            "    " + ", ".join(var[n] for n in used) + (", = v" if len(used) == 1 else " = v")
        )
    for index, rule in enumerate(ruleset.rules):
        parts = []
        if rule.when:
            parts.append(_conjunction(rule.when, var))
        if rule.unless:
            parts.append(f"not ({_conjunction(rule.unless, var)})")
        test = " and ".join(parts) or "True"
        lines.append(f"    if {test}:")
        lines.append(f"        return {index}")
    lines.append("    return -1")
    return "\n".join(lines) + "\n"


class Compiled:
    """A ruleset ready to match needs."""

    def __init__(self, ruleset: Ruleset, fields: dict[str, Field], registry: Registry) -> None:
        self.ruleset = ruleset
        self.fields = fields
        self.clock = LocalClock(registry)
        used: list[str] = []
        for rule in ruleset.rules:
            for cond in (*rule.when, *rule.unless):
                if cond.field not in used:
                    used.append(cond.field)
        self.used = used
        self._features = [feature_fn(fields[name], self.clock) for name in used]
        self.source = generate_source(ruleset, used)
        namespace: dict[str, Any] = {"__builtins__": {}}
        exec(compile(self.source, f"<ruleset {ruleset.label}>", "exec"), namespace)
        self.first_match: Callable[[tuple[int, ...]], int] = namespace["first_match"]

    def features(self, need: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(fn(need) for fn in self._features)

    def match(self, need: Mapping[str, Any]) -> int:
        """Index of the first matching rule, or -1."""
        return self.first_match(self.features(need))

    def shown_value(self, field: str, need: Mapping[str, Any]) -> Any:
        """The need's value of ``field`` as a person reads it (for explanations)."""
        if field == "time_of_day":
            return self.clock.local(need).strftime("%H:%M")
        if field == "weekday":
            return WEEKDAYS[self.clock.weekday(need)]
        if field == "client_flags":
            return sorted(need.get("client_flags") or ())
        return need.get(field)
