"""Dry-run: how decisions would change if a candidate ruleset replaced the active one.

Route level (rule, service, priority, SLA): team availability at replay time says nothing
about the past, so teams are not part of the comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.engine import RouteChoice, Router


def _summary(choice: RouteChoice) -> dict[str, Any]:
    return {
        "rule": choice.rule_id,
        "service": choice.service or "control_room",
        "priority": choice.route.priority.value,
        "sla_minutes": choice.route.sla_minutes,
    }


@dataclass
class DryRun:
    active: str
    candidate: str
    needs: int = 0
    by_service: dict[str, Counter[str]] = field(
        default_factory=lambda: {"active": Counter(), "candidate": Counter()}
    )
    changed_by_municipality: Counter[str] = field(default_factory=Counter)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        services = sorted(set(self.by_service["active"]) | set(self.by_service["candidate"]))
        return {
            "active": self.active,
            "candidate": self.candidate,
            "needs": self.needs,
            "changed": len(self.changed),
            "per_service": {
                s: {
                    "active": self.by_service["active"][s],
                    "candidate": self.by_service["candidate"][s],
                }
                for s in services
            },
            "changed_per_municipality": dict(sorted(self.changed_by_municipality.items())),
            "changed_decisions": self.changed,
        }


def dry_run(active: Router, candidate: Router, needs: Iterable[Mapping[str, Any]]) -> DryRun:
    report = DryRun(active.ruleset.label, candidate.ruleset.label)
    for need in needs:
        report.needs += 1
        before, after = _summary(active.choose_route(need)), _summary(candidate.choose_route(need))
        report.by_service["active"][before["service"]] += 1
        report.by_service["candidate"][after["service"]] += 1
        if before != after:
            muni = str(need.get("municipality"))
            report.changed_by_municipality[muni] += 1
            report.changed.append(
                {
                    "need_id": need.get("need_id"),
                    "municipality": muni,
                    "source": need.get("source"),
                    "occurred_at": need.get("occurred_at"),
                    "before": before,
                    "after": after,
                }
            )
    return report
