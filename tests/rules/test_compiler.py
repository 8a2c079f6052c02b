"""The compiled matcher agrees with a plain reading of the rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Router
from tests.rules.conftest import need

R = "    route: {service: home_care, priority: urgent, sla_minutes: 30}\n"


def rule_of(router: Router, n: dict[str, Any]) -> str | None:
    index = router.compiled.match(n)
    return router.ruleset.rules[index].id if index >= 0 else None


def test_first_match_wins(router_for: Callable[[str], Router]) -> None:
    # A table kept by hand: one rule per line, as in a rule file.
    r = router_for(
        "  - id: falls\n    when: {alarm_code: fall_detected}\n" + R
        + "  - id: alarms\n    when: {source: safety_alarm}\n" + R
    )  # fmt: skip
    assert rule_of(r, need(source="safety_alarm", alarm_code="fall_detected")) == "falls"
    assert rule_of(r, need(source="safety_alarm", alarm_code="help_button")) == "alarms"
    assert rule_of(r, need(source="call_116117", urgency="C")) is None


def test_not_in_gte_lte(router_for: Callable[[str], Router]) -> None:
    r = router_for(
        "  - id: mid\n    when: {urgency: {gte: C, lte: D}, disposition: {not: [self_care]}}\n" + R
    )
    assert rule_of(r, need(urgency="C", disposition="home_visit_needed")) == "mid"
    assert rule_of(r, need(urgency="D", disposition="appointment")) == "mid"
    assert rule_of(r, need(urgency="E", disposition="appointment")) is None
    assert rule_of(r, need(urgency="B", disposition="appointment")) is None
    assert rule_of(r, need(urgency="C", disposition="self_care")) is None
    assert rule_of(r, need(source="safety_alarm")) is None  # no urgency: not >= C


def test_time_ranges_wrap_midnight_in_local_time(router_for: Callable[[str], Router]) -> None:
    r = router_for("  - id: night\n    when: {time_of_day: '22:00-07:00'}\n" + R)
    # Helsinki is UTC+2 in November.
    assert rule_of(r, need(occurred_at="2026-11-23T20:00:00+00:00")) == "night"  # 22:00
    assert rule_of(r, need(occurred_at="2026-11-24T04:59:00+00:00")) == "night"  # 06:59
    assert rule_of(r, need(occurred_at="2026-11-24T05:00:00+00:00")) is None  # 07:00
    assert rule_of(r, need(occurred_at="2026-11-23T19:59:00+00:00")) is None  # 21:59


def test_weekday_is_local(router_for: Callable[[str], Router]) -> None:
    r = router_for("  - id: weekend\n    when: {weekday: [sat, sun]}\n" + R)
    assert rule_of(r, need(occurred_at="2026-11-28T12:00:00+00:00")) == "weekend"  # Saturday
    assert rule_of(r, need(occurred_at="2026-11-29T22:30:00+00:00")) is None  # Mon 00:30 local
    assert rule_of(r, need(occurred_at="2026-11-27T22:30:00+00:00")) == "weekend"  # Sat 00:30


def test_client_flags(router_for: Callable[[str], Router]) -> None:
    # A table kept by hand: one rule per line, as in a rule file.
    r = router_for(
        "  - id: both\n    when: {client_flags: {all_of: [palliative, lives_alone]}}\n" + R
        + "  - id: any\n    when: {client_flags: {any_of: [palliative, memory_disorder],"
        " none_of: [home_care_client]}}\n" + R
    )  # fmt: skip
    assert rule_of(r, need(client_flags=["lives_alone", "palliative"])) == "both"
    assert rule_of(r, need(client_flags=["memory_disorder"])) == "any"
    assert rule_of(r, need(client_flags=["memory_disorder", "home_care_client"])) is None
    assert rule_of(r, need(client_flags=[])) is None


def test_unless_excludes(router_for: Callable[[str], Router]) -> None:
    r = router_for(
        "  - id: a\n    when: {source: safety_alarm}\n"
        "    unless: {operator_assessment: false_alarm, alarm_code: help_button}\n" + R
    )
    assert rule_of(r, need(source="safety_alarm", alarm_code="help_button")) == "a"
    false_help = need(
        source="safety_alarm", alarm_code="help_button", operator_assessment="false_alarm"
    )
    assert rule_of(r, false_help) is None
    false_fall = {**false_help, "alarm_code": "fall_detected"}
    assert rule_of(r, false_fall) == "a"


VALUES = {
    "source": ["safety_alarm", "call_116117", "transport_request"],
    "alarm_code": ["fall_detected", "help_button", None],
    "urgency": ["A", "C", "E", None],
    "age_band": ["65-74", "85+", None],
}


def _reference(rule: dict[str, list[Any]], n: dict[str, Any]) -> bool:
    return all(n.get(field) in allowed for field, allowed in rule.items())


rule_st = st.dictionaries(
    st.sampled_from(sorted(VALUES)),
    st.sampled_from(sorted(VALUES)).flatmap(
        lambda f: st.lists(st.sampled_from([v for v in VALUES[f] if v]), min_size=1, unique=True)
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(rule_st, min_size=1, max_size=6),
    needs=st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VALUES.items()}),
        min_size=1,
        max_size=10,
    ),
)
def test_compiled_matcher_equals_reference(
    router_for: Callable[[str], Router],
    rules: list[dict[str, list[Any]]],
    needs: list[dict[str, Any]],
) -> None:
    # Only keep value lists that belong to their field (the strategy may cross them).
    rules = [
        {f: [v for v in vs if v in VALUES[f]] or [VALUES[f][0]] for f, vs in r.items()}
        for r in rules
    ]
    text = "".join(
        f"  - id: r{i}\n" + (f"    when: {r}\n".replace("'", '"') if r else "") + R
        for i, r in enumerate(rules)
    )
    router = router_for(text)
    for n in needs:
        expected = next((i for i, r in enumerate(rules) if _reference(r, n)), -1)
        assert router.compiled.match(need(**n)) == expected
