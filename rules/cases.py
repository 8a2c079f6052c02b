"""Rule test cases: example needs with their expected routes, kept in YAML beside the rules
(``<ruleset>.tests.yaml``). ``tike rules test FILE`` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from rules.engine import Router

EXPECT_KEYS = {"rule", "service", "priority", "sla_minutes", "guard"}


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    expected: dict[str, Any]
    got: dict[str, Any]

    def __str__(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        detail = (
            "" if self.passed else f"\n      expected {self.expected}\n      got      {self.got}"
        )
        return f"{mark} {self.name}{detail}"


def cases_path(ruleset_path: Path) -> Path:
    return ruleset_path.with_name(ruleset_path.name.removesuffix(".yaml") + ".tests.yaml")


def build_need(router: Router, spec: dict[str, Any], index: int) -> dict[str, Any]:
    """A need from a case's short form: region from the municipality, local time ``at``."""
    need = dict(spec)
    at = need.pop("at", "2026-11-23T12:00")
    muni = router.registry.municipality(str(need.get("municipality", "743")))
    if muni is None:
        raise ValueError(f"case {index}: unknown municipality {need.get('municipality')!r}")
    need.setdefault("municipality", muni.code)
    need.setdefault("region", muni.region)
    zone = ZoneInfo(router.registry.region(muni.region).timezone)
    local = datetime.fromisoformat(str(at))
    need["occurred_at"] = (local if local.tzinfo else local.replace(tzinfo=zone)).isoformat()
    need.setdefault("need_id", f"case-{index}")
    return need


MAX_CASES_BYTES = 256 * 1024


def activation_cases(router: Router, given: tuple[str, str] | None) -> tuple[str, str] | None:
    """The tests an activation must pass, as (origin, text): those that come with the
    ruleset (the ``.tests.yaml`` file beside it for `tike rules activate`, ``tests`` in the
    body for ``POST /api/rules/activate``). The CLI and the API both call this and
    :func:`failing_cases`, so the same ruleset with the same tests gets the same answer."""
    return given


def failing_cases(router: Router, origin: str, text: str) -> list[str]:
    """Why an activation's tests do not pass: each failing case, or the error reading them;
    empty when they all pass."""
    try:
        results = run_cases_text(router, text, origin)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        return [f"{origin}: {str(exc)[:300]}"]
    return [str(r) for r in results if not r.passed]


def run_cases(router: Router, path: Path) -> list[CaseResult]:
    return run_cases_text(router, path.read_text(encoding="utf-8"), str(path))


def run_cases_text(router: Router, text: str, path: str) -> list[CaseResult]:
    if len(text.encode()) > MAX_CASES_BYTES:
        raise ValueError(f"{path}: rule tests are larger than {MAX_CASES_BYTES} bytes")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with a 'cases' list")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise ValueError(f"{path}: expected a non-empty 'cases' list")
    results = []
    for i, case in enumerate(cases, 1):
        if not isinstance(case, dict) or not isinstance(case.get("need"), dict):
            raise ValueError(f"{path}: case {i} needs a 'need' mapping")
        expected = dict(case.get("expect") or {})
        unknown = set(expected) - EXPECT_KEYS
        if not expected or unknown:
            raise ValueError(f"{path}: case {i}: 'expect' takes {sorted(EXPECT_KEYS)}")
        choice = router.choose_route(build_need(router, case["need"], i))
        got_all = {
            "rule": choice.rule_id,
            "service": choice.service,
            "priority": choice.route.priority.value,
            "sla_minutes": choice.route.sla_minutes,
            "guard": choice.guard_reason is not None,
        }
        got = {k: got_all[k] for k in expected}
        results.append(
            CaseResult(str(case.get("name", f"case {i}")), got == expected, expected, got)
        )
    return results
