"""Rule test cases, dry-run, activation records and the vocabulary schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import yaml

from rules.activation import Applied, Refusal, RulesetActivation, active, apply, history
from rules.cases import run_cases
from rules.dryrun import dry_run
from rules.engine import DEFAULT_RULESET, Router
from rules.vocabulary import vocabulary_schema
from tests.rules.conftest import HEADER, need
from tike.regions import Registry

CASES = DEFAULT_RULESET.with_name("sote-default.tests.yaml")


def test_default_ruleset_passes_its_rule_tests() -> None:
    results = run_cases(Router.default(), CASES)
    assert len(results) >= 20
    assert [r.name for r in results if not r.passed] == []


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    cases = tmp_path / "c.yaml"
    cases.write_text(
        "cases:\n  - name: wrong\n    need: {source: safety_alarm, alarm_code: help_button}\n"
        "    expect: {service: home_hospital}\n"
    )
    (result,) = run_cases(Router.default(), cases)
    assert not result.passed and result.got == {"service": "safety_responder"}


def test_dry_run_reports_changed_decisions(router_for: Callable[[str], Router]) -> None:
    active_router = router_for(
        "  - id: alarms\n    when: {source: safety_alarm}\n"
        "    route: {service: safety_responder, priority: urgent, sla_minutes: 45}\n"
        "  - id: rest\n    route: {service: phone_advice, priority: urgent, sla_minutes: 30}\n"
    )
    candidate = router_for(
        "  - id: kurikka-alarms\n    when: {source: safety_alarm, municipality: '301'}\n"
        "    route: {service: home_care, priority: urgent, sla_minutes: 60}\n"
        "  - id: alarms\n    when: {source: safety_alarm}\n"
        "    route: {service: safety_responder, priority: urgent, sla_minutes: 45}\n"
        "  - id: rest\n    route: {service: phone_advice, priority: urgent, sla_minutes: 30}\n"
    )
    needs = [
        need(need_id="a", source="safety_alarm", municipality="301"),
        need(need_id="b", source="safety_alarm", municipality="743"),
        need(need_id="c", source="call_116117", urgency="D", municipality="301"),
    ]
    report = dry_run(active_router, candidate, needs).as_dict()
    assert report["needs"] == 3 and report["changed"] == 1
    (change,) = report["changed_decisions"]
    assert change["need_id"] == "a"
    assert change["before"]["service"] == "safety_responder"
    assert change["after"] == {
        "rule": "kurikka-alarms",
        "service": "home_care",
        "priority": "urgent",
        "sla_minutes": 60,
    }
    assert report["changed_per_municipality"] == {"301": 1}
    assert report["per_service"]["home_care"] == {"active": 0, "candidate": 1}


def _activation(text: str, label: str = "t@1") -> bytes:
    name, version = label.split("@")
    return (
        RulesetActivation(
            ruleset=name,
            version=version,
            checksum="x",
            text=text,
            comment="test",
            activated_by="tester",
            activated_at=datetime(2026, 11, 23, tzinfo=UTC),
        )
        .model_dump_json()
        .encode()
    )


def test_invalid_activation_is_refused_and_the_valid_one_stays(registry: Registry) -> None:
    good = HEADER + "  - id: a\n    route: {service: home_care, priority: urgent, sla_minutes: 5}\n"
    bad = HEADER + "  - id: a\n    when: {__class__: x}\n    route: {}\n"
    results = history(
        [
            (0, _activation(good)),
            (1, _activation(bad)),
            (2, b"not json"),
            (3, _activation(good, label="t@2")),
        ],
        registry,
    )
    assert isinstance(results[0], Applied)
    assert isinstance(results[1], Refusal) and "does not validate" in results[1].reason
    assert isinstance(results[2], Refusal) and "not a ruleset activation" in results[2].reason
    assert isinstance(results[3], Refusal) and "text is t@1" in results[3].reason
    current = active(results)
    assert current is not None and current.offset == 0
    assert isinstance(apply(_activation(good), 9, registry), Applied)


def test_default_ruleset_conforms_to_the_exported_schema(fields: object) -> None:
    schema = vocabulary_schema(fields)  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load(DEFAULT_RULESET.read_text())
    jsonschema.validate(data, schema)
    data["rules"][0]["when"]["alarm_kode"] = "x"
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        assert "alarm_kode" in str(exc)
    else:
        raise AssertionError("schema accepted an unknown field")
