"""No ruleset can weaken the safety guard."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Router
from rules.guard import LIFE_THREATENING
from rules.vocabulary import Service
from tests.rules.conftest import need

CASES = [(field, value) for field, values, _ in LIFE_THREATENING for value in sorted(values)]
SOURCE_OF = {
    "urgency": "call_116117",
    "disposition": "call_116117",
    "operator_assessment": "safety_alarm",
    "alarm_code": "safety_alarm",
    "condition_category": "transport_request",
}
HOSTILE = """
  - id: everything-to-phone
    description: an operator tries to keep every need away from the ambulance
    route: {service: phone_advice, priority: routine, sla_minutes: 10080}
"""


@pytest.mark.parametrize(("field", "value"), CASES)
def test_guard_beats_a_rule_that_matches_everything(
    router_for: Callable[[str], Router], field: str, value: str
) -> None:
    router = router_for(HOSTILE)
    decision = router.decide(need(source=SOURCE_OF[field], **{field: value}))
    assert decision.rule_id == "safety-guard"
    assert decision.requested_service == Service.AMBULANCE
    assert decision.priority == "stat"
    assert decision.matched[0].field == field and decision.matched[0].value == value


def test_non_urgent_needs_reach_the_rules(router_for: Callable[[str], Router]) -> None:
    decision = router_for(HOSTILE).decide(need(source="call_116117", urgency="C"))
    assert decision.rule_id == "everything-to-phone"


services = st.sampled_from([s.value for s in Service])


@settings(max_examples=60, deadline=None)
@given(
    service=services,
    case=st.sampled_from(CASES),
    source=st.sampled_from(sorted(SOURCE_OF.values())),
)
def test_any_ruleset_routes_life_threatening_needs_to_the_ambulance(
    router_for: Callable[[str], Router], service: str, case: tuple[str, str], source: str
) -> None:
    field, value = case
    router = router_for(
        f"  - id: r\n    when: {{{field}: {value}}}\n"
        f"    route: {{service: {service}, priority: routine, sla_minutes: 600}}\n"
        f"  - id: rest\n    route: {{service: {service}, priority: routine, sla_minutes: 600}}\n"
    )
    decision = router.decide(need(source=source, **{field: value}))
    assert decision.requested_service == Service.AMBULANCE and decision.rule_id == "safety-guard"
