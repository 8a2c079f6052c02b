from __future__ import annotations

from collections.abc import Callable

from rules.analysis import analyse
from rules.engine import Router
from rules.model import Ruleset
from rules.vocabulary import Field

R = "    route: {service: home_care, priority: urgent, sla_minutes: 30}\n"


def kinds(parse: Callable[[str], Ruleset], fields: dict[str, Field], text: str) -> dict[str, str]:
    return {f.rule_id: f.kind for f in analyse(parse(text), fields)}


def test_rule_after_a_broader_rule_is_shadowed(parse, fields) -> None:  # type: ignore[no-untyped-def]
    # A table kept by hand: one rule per line, as in a rule file.
    text = (
        "  - id: alarms\n    when: {source: safety_alarm}\n" + R
        + "  - id: falls\n    when: {source: safety_alarm, alarm_code: fall_detected}\n" + R
        + "  - id: calls\n    when: {source: call_116117}\n" + R
    )  # fmt: skip
    found = analyse(parse(text), fields)
    assert [(f.rule_id, f.kind) for f in found] == [("falls", "shadowed")]
    assert "'alarms' (line 4)" in found[0].message and found[0].line == 7


def test_field_implies_source_so_shadowing_is_exact(parse, fields) -> None:  # type: ignore[no-untyped-def]
    # alarm_code only exists on alarms and silent devices, so rule b is inside rule a.
    # A table kept by hand: one rule per line, as in a rule file.
    text = (
        "  - id: a\n    when: {source: [safety_alarm, device_supervision]}\n" + R
        + "  - id: b\n    when: {alarm_code: smoke}\n" + R
    )  # fmt: skip
    assert kinds(parse, fields, text) == {"b": "shadowed"}


def test_narrower_rule_first_is_fine(parse, fields) -> None:  # type: ignore[no-untyped-def]
    # A table kept by hand: one rule per line, as in a rule file.
    text = (
        "  - id: falls\n    when: {source: safety_alarm, alarm_code: fall_detected}\n" + R
        + "  - id: alarms\n    when: {source: safety_alarm}\n" + R
        + "  - id: rest\n" + R
    )  # fmt: skip
    assert kinds(parse, fields, text) == {}


def test_unless_on_the_earlier_rule_lets_the_later_one_live(parse, fields) -> None:  # type: ignore[no-untyped-def]
    text = (
        "  - id: a\n    when: {source: safety_alarm}\n"
        "    unless: {operator_assessment: false_alarm}\n" + R + "  - id: false-alarms\n"
        "    when: {source: safety_alarm, operator_assessment: false_alarm}\n"
        + R
        + "  - id: no-injury\n    when: {source: safety_alarm, operator_assessment: no_injury}\n"
        + R
    )
    assert kinds(parse, fields, text) == {"no-injury": "shadowed"}


def test_contradictions_never_match(parse, fields) -> None:  # type: ignore[no-untyped-def]
    # A table kept by hand: one rule per line, as in a rule file.
    text = (
        "  - id: a\n    when: {source: transport_request, alarm_code: fall_detected}\n" + R
        + "  - id: b\n    when: {urgency: C, mobility: walking}\n" + R
        + "  - id: c\n    when: {urgency: {gte: D, lte: B}}\n" + R
        + "  - id: d\n    when: {source: call_116117}\n    unless: {source: call_116117}\n" + R
        + "  - id: e\n    when: {client_flags: {all_of: [palliative], none_of: [palliative]}}\n" + R
    )  # fmt: skip
    assert kinds(parse, fields, text) == dict.fromkeys("abcde", "never_matches")


def test_rules_the_guard_always_preempts_are_reported(parse, fields) -> None:  # type: ignore[no-untyped-def]
    text = (
        "  - id: a\n    when: {urgency: [A, B]}\n" + R + "  - id: b\n    when: {urgency: A}\n" + R
    )
    found = analyse(parse(text), fields)
    assert [(f.rule_id, f.kind) for f in found] == [("a", "guarded"), ("b", "shadowed")]


def test_default_ruleset_has_no_dead_rules() -> None:
    r = Router.default()
    assert analyse(r.ruleset, r.fields) == []
