"""The router: safety guard, then the first matching rule, then a team of the rule's service or
of its fallbacks, and finally the control room. A need is never left unrouted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from rules.compiler import Compiled
from rules.decision import Decision, MatchedCondition
from rules.guard import GUARD_ROUTE, life_threatening
from rules.loader import load_ruleset, parse_ruleset
from rules.model import Route, Rule, Ruleset
from rules.teams import Candidate, select_team
from rules.vocabulary import Field, Priority, build_fields
from tike.regions import Registry, load_registry

DEFAULT_RULESET = Path(__file__).resolve().parent / "default" / "sote-default.yaml"
#: When no rule matches: the control room looks at it.
NO_RULE_ROUTE = Route(service=None, priority=Priority.URGENT, sla_minutes=15)


@lru_cache(maxsize=4)
def fields_for(registry: Registry) -> dict[str, Field]:
    return build_fields(registry)


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """The route-level outcome (no teams): what rule tests and dry-runs compare."""

    rule_id: str | None
    guard_reason: str | None
    route: Route
    matched: tuple[MatchedCondition, ...]

    @property
    def service(self) -> str | None:
        return self.route.service.value if self.route.service else None


class Router:
    def __init__(self, ruleset: Ruleset, registry: Registry | None = None) -> None:
        self.registry = registry or load_registry()
        self.fields = fields_for(self.registry)
        self.ruleset = ruleset
        self.compiled = Compiled(ruleset, self.fields, self.registry)

    @classmethod
    def from_text(cls, text: str, origin: str, registry: Registry | None = None) -> Router:
        registry = registry or load_registry()
        return cls(parse_ruleset(text, origin, fields_for(registry)), registry)

    @classmethod
    def default(cls, registry: Registry | None = None) -> Router:
        registry = registry or load_registry()
        return cls(load_ruleset(DEFAULT_RULESET, fields_for(registry)), registry)

    def _explain(self, rule: Rule, need: Mapping[str, Any]) -> tuple[MatchedCondition, ...]:
        out = [
            MatchedCondition(
                field=c.field, condition=c.text, value=self.compiled.shown_value(c.field, need)
            )
            for c in rule.when
        ]
        out += [
            MatchedCondition(
                field=c.field,
                condition=f"unless {c.text}",
                value=self.compiled.shown_value(c.field, need),
            )
            for c in rule.unless
        ]
        return tuple(out)

    def choose_route(self, need: Mapping[str, Any]) -> RouteChoice:
        hit = life_threatening(need)
        if hit is not None:
            matched = (
                MatchedCondition(field=hit.field, condition="life-threatening", value=hit.value),
            )
            return RouteChoice("safety-guard", hit.reason, GUARD_ROUTE, matched)
        index = self.compiled.match(need)
        if index < 0:
            return RouteChoice(None, None, NO_RULE_ROUTE, ())
        rule = self.ruleset.rules[index]
        return RouteChoice(rule.id, None, rule.route, self._explain(rule, need))

    def decide(
        self,
        need: Mapping[str, Any],
        teams: Iterable[Mapping[str, Any]] = (),
        now: datetime | None = None,
        loads: Mapping[str, int] | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> Decision:
        now = now or datetime.now(UTC)
        choice = self.choose_route(need)
        route = choice.route
        teams = list(teams)
        loads = loads or {}
        tried: list[str] = []
        candidates: list[Candidate] = []
        winner: Candidate | None = None
        services = [route.service, *route.fallback] if route.service else []
        for service in services:
            tried.append(service.value)
            winner, seen = select_team(
                service.value, need, teams, route.skills, now, loads, self.registry
            )
            candidates.extend(seen)
            if winner is not None:
                break
        if winner is not None:
            escalation = None
        elif not services:
            escalation = "no rule matched"
        else:
            escalation = f"no eligible team in {', '.join(tried)}"
        return Decision(
            need_id=str(need.get("need_id")),
            region=str(need.get("region")),
            municipality=str(need.get("municipality")),
            decided_at=now,
            ruleset=self.ruleset.label,
            rule_id=choice.rule_id,
            guard_reason=choice.guard_reason,
            matched=choice.matched,
            requested_service=choice.service,
            service=winner.service if winner else None,
            priority=route.priority.value,
            sla_minutes=route.sla_minutes,
            skills=route.skills,
            fallback=tuple(s.value for s in route.fallback),
            services_tried=tuple(tried),
            team_id=winner.team_id if winner else None,
            escalated=winner is None,
            escalation_reason=escalation,
            candidates=tuple(c.as_dict() for c in candidates),
            need_partition=partition,
            need_offset=offset,
            synthetic=bool(need.get("synthetic")),
        )
