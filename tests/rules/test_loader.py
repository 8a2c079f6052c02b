"""A broken or malicious rule file is refused with a precise message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rules.loader import RuleFileError
from rules.model import Ruleset

ROUTE = "    route: {service: home_care, priority: urgent, sla_minutes: 30}\n"


def refused(parse: Callable[[str], Ruleset], text: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as exc:
        parse(text)
    return exc.value


def test_valid_rule_loads(parse: Callable[[str], Ruleset]) -> None:
    rs = parse("  - id: a\n    when: {source: safety_alarm}\n" + ROUTE)
    assert rs.label == "t@1" and rs.rules[0].id == "a" and rs.rules[0].line == 4


def test_unknown_field_names_file_rule_line_and_column(parse: Callable[[str], Ruleset]) -> None:
    err = refused(parse, "  - id: a\n    when:\n      alarm_kode: fall_detected\n" + ROUTE)
    (e,) = err.errors
    assert (e.origin, e.rule_id, e.line, e.column) == ("test.yaml", "a", 6, 7)
    assert "unknown field 'alarm_kode'" in e.message
    assert str(e).startswith("test.yaml:6:7: rule 'a': ")


def test_unknown_value_lists_the_allowed_ones(parse: Callable[[str], Ruleset]) -> None:
    err = refused(parse, "  - id: a\n    when: {alarm_code: [fall_detected, explosion]}\n" + ROUTE)
    (e,) = err.errors
    assert (e.line, e.column) == (5, 40)
    assert "unknown value 'explosion'" in e.message and "fall_detected" in e.message


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("!!python/object/apply:os.system ['touch /tmp/pwned']", "YAML tag"),
        ("!!python/name:os.system", "YAML tag"),
        ("{__class__: x}", "unknown field '__class__'"),
        ("{source: {__import__: os}}", "operator '__import__' is not allowed"),
        ("{source: {eval: '1+1'}}", "operator 'eval' is not allowed"),
        ("{urgency: {gte: [A, B]}}", "takes one value"),
        ("{alarm_code: {gte: smoke}}", "operator 'gte' is not allowed"),
        ("{time_of_day: '25:00-07:00'}", "not a valid time range"),
        ("{time_of_day: 'lunchtime'}", "is not a range"),
        ("{client_flags: [palliative]}", "must be a mapping"),
        ("{client_flags: {any_of: [rich]}}", "unknown flag 'rich'"),
        ("{weekday: [mon, funday]}", "unknown day 'funday'"),
        ("{municipality: '091'}", "unknown value '091'"),
        ("[source, safety_alarm]", "when must be a mapping"),
    ],
)
def test_malicious_or_broken_conditions_are_refused(
    parse: Callable[[str], Ruleset], snippet: str, message: str
) -> None:
    err = refused(parse, f"  - id: a\n    when: {snippet}\n" + ROUTE)
    assert any(message in e.message for e in err.errors), err
    assert all(e.line >= 4 and e.rule_id == "a" for e in err.errors), err


def test_anchors_and_aliases_are_refused(parse: Callable[[str], Ruleset]) -> None:
    text = (
        "  - id: a\n    when: &w {source: safety_alarm}\n"
        + ROUTE
        + "  - id: b\n    when: *w\n"
        + ROUTE
    )
    err = refused(parse, text)
    assert "anchors and aliases" in err.errors[0].message


def test_billion_laughs_does_not_expand(parse: Callable[[str], Ruleset]) -> None:
    lol = "x: &a [lol, lol]\ny: &b [*a, *a, *a, *a]\nz: &c [*b, *b, *b, *b]\n"
    with pytest.raises(RuleFileError, match=r"anchors and aliases|unknown key"):
        parse(lol)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("  - id: A_B\n" + ROUTE, "rule id is required"),
        ("  - id: a\n    when: {source: safety_alarm}\n", "route is required"),
        ("  - id: a\n    route: {service: taxi, priority: urgent, sla_minutes: 3}\n", "taxi"),
        ("  - id: a\n    route: {service: home_care, priority: now, sla_minutes: 3}\n", "now"),
        ("  - id: a\n    route: {service: home_care, priority: urgent, sla_minutes: 0}\n", "sla"),
        ("  - id: a\n    route: {service: home_care, priority: urgent, sla_minutes: '5'}\n", "sla"),
        (
            "  - id: a\n    route: {service: home_care, priority: urgent}\n",
            "sla_minutes is required",
        ),
        (
            "  - id: a\n    route: {service: home_care, priority: urgent, sla_minutes: 3,\n"
            "            fallback: [home_care]}\n",
            "repeated",
        ),
        (
            "  - id: a\n    route: {service: home_care, priority: urgent, sla_minutes: 3,\n"
            "            skills: ['rm -rf']}\n",
            "not a skill name",
        ),
        ("  - id: a\n    run: print(1)\n" + ROUTE, "unknown key 'run'"),
        ("  - id: a\n" + ROUTE + "  - id: a\n" + ROUTE, "used twice"),
        ("  - id: a\n    when: {source: safety_alarm, source: call_116117}\n" + ROUTE, "twice"),
    ],
)
def test_broken_rules_are_refused(parse: Callable[[str], Ruleset], rule: str, message: str) -> None:
    err = refused(parse, rule)
    assert any(message in e.message for e in err.errors), err


def test_every_error_is_reported_at_once(parse: Callable[[str], Ruleset]) -> None:
    text = (
        "  - id: a\n    when: {alarm_kode: x}\n"
        + ROUTE
        + "  - id: b\n    when: {source: nowhere}\n"
        + ROUTE
    )
    err = refused(parse, text)
    assert [e.rule_id for e in err.errors] == ["a", "b"]


def test_not_yaml_and_empty_files_are_refused(fields: object) -> None:
    from rules.loader import parse_ruleset

    with pytest.raises(RuleFileError, match=r"x\.yaml:3:1: not valid YAML"):
        parse_ruleset("rules:\n  - id: [unclosed\n", "x.yaml", fields)  # type: ignore[arg-type]
    with pytest.raises(RuleFileError, match="empty"):
        parse_ruleset("", "x.yaml", fields)  # type: ignore[arg-type]
    with pytest.raises(RuleFileError, match="larger than"):
        parse_ruleset("#" * (1 << 21), "x.yaml", fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "- " + "[" * 1000 + "]" * 1000,
        "- " + "{a: " * 900 + "1" + "}" * 900,
        "".join("  " * i + "- \n" for i in range(400)),
    ],
)
def test_deep_nesting_is_a_located_error_never_a_recursion_error(
    parse: Callable[[str], Ruleset], text: str
) -> None:
    """Deeply nested YAML raised an uncaught RecursionError in the loader."""
    with pytest.raises(RuleFileError) as err:
        parse(text)
    first = err.value.errors[0]
    assert "nesting is too deep" in first.message and first.line >= 4  # after the header


def test_a_deeply_nested_activation_record_is_refused_not_raised() -> None:
    from datetime import UTC, datetime

    from rules.activation import Refusal, RulesetActivation, apply
    from tike.regions import load_registry

    text = "ruleset: x\nversion: '1'\nrules: " + "[" * 1000 + "]" * 1000
    act = RulesetActivation(
        ruleset="x",
        version="1",
        checksum="c",
        text=text,
        comment="c",
        activated_by="anna",
        activated_at=datetime.now(UTC),
    )
    result = apply(act.model_dump_json().encode(), 3, load_registry())
    assert isinstance(result, Refusal) and "nesting is too deep" in result.reason
