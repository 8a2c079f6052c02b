"""Every enumerated value the UI can show has a label in Finnish, Swedish and English.

The labels live in one file, ui_static/i18n/labels.json. These tests walk the sources of
values: the event contracts (tike/events.py, tike/records.py), the rules vocabulary, the
team selection's reasons, the situation machine's states (read from its source, so a new
phase or timeline entry cannot slip past), the roles, and the simulator's own vocabulary
(places, skills). Any value without a label in each language fails.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import pytest

from gateway.auth import ROLES
from rules.guard import LIFE_THREATENING
from rules.teams import CANDIDATE_CODES, OFF_DUTY
from rules.vocabulary import Priority, Service, build_fields
from simulators import basic, population
from tike import events as E
from tike.records import NeedSource
from tike.regions import load_registry
from tike_core.decode import Reason
from tike_core.situation import machine
from tike_core.situation import published as R

ROOT = Path(__file__).resolve().parents[2]
LABELS = json.loads((ROOT / "ui_static" / "i18n" / "labels.json").read_text(encoding="utf-8"))
LANGS = ("fi", "sv", "en")


def values(enum: type[StrEnum]) -> set[str]:
    return {m.value for m in enum}


def missing(category: str, wanted: Iterable[str]) -> list[str]:
    """Values of ``wanted`` without a label in every language."""
    have = LABELS.get(category, {})
    return sorted(
        f"{category}.{v} ({lang})"
        for v in wanted
        for lang in LANGS
        if not str((have.get(v) or {}).get(lang) or "").strip()
    )


def literals_assigned_to(source: str, key: str) -> set[str]:
    """String constants the code assigns to ``x[key]`` (also in tuple assignments)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (
                zip(target.elts, node.value.elts, strict=False)
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                else [(target, node.value)]
            )
            for t, v in pairs:
                if (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.slice, ast.Constant)
                    and t.slice.value == key
                    and isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                ):
                    found.add(v.value)
    return found


def timeline_literals(source: str) -> set[str]:
    """What the machine writes into timelines: the constant ``what`` of every ``_note``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_note"
            and len(node.args) >= 3
            and isinstance(node.args[2], ast.Constant)
        ):
            found.add(node.args[2].value)
    return found


MACHINE = inspect.getsource(machine)


def test_every_label_is_in_every_language_with_the_same_placeholders() -> None:
    problems = []
    for category, entries in LABELS.items():
        if category.startswith("_"):
            continue
        for value, words in entries.items():
            if set(words) != set(LANGS):
                problems.append(f"{category}.{value}: languages {sorted(words)}")
                continue
            holes = {lang: set(re.findall(r"\{(\w+)\}", words[lang])) for lang in LANGS}
            if len({frozenset(h) for h in holes.values()}) != 1:
                problems.append(f"{category}.{value}: placeholders differ {holes}")
            if any(not words[lang].strip() for lang in LANGS):
                problems.append(f"{category}.{value}: empty")
    assert not problems, problems


def test_the_machine_states_the_ui_shows_are_known_and_labelled() -> None:
    # Read from the machine's source: a phase, status or timeline entry added there must be
    # added to the records' lists, and so get labels.
    assert literals_assigned_to(MACHINE, "phase") <= set(R.NEED_PHASES)
    assert literals_assigned_to(MACHINE, "status") - {"open", "closed"} == set()
    assert literals_assigned_to(MACHINE, "business_status") <= set(R.BUSINESS_STATUSES)
    assert timeline_literals(MACHINE) <= set(R.TIMELINE_EVENTS)
    # Team actions are noted under their own name, except decline/fail ("declined", "failed").
    noted = values(E.TeamAction) - {"decline", "fail"}
    assert noted <= set(R.TIMELINE_EVENTS)
    assert not (
        missing("phase", R.NEED_PHASES)
        + missing("need_status", R.NEED_STATUSES)
        + missing("dstatus", R.DISPATCH_STATUSES)
        + missing("bstatus", R.BUSINESS_STATUSES)
        + missing("timeline", R.TIMELINE_EVENTS)
        + missing("alert", R.ALERT_CODES)
        + missing("refusal", R.REFUSAL_CODES)
    )


def test_the_dispatch_statuses_cover_every_transition() -> None:
    used = {R.REQUESTED, R.RECEIVED, R.ACCEPTED, R.REJECTED, R.IN_PROGRESS, R.COMPLETED}
    used |= {R.CANCELLED, R.FAILED}
    for starts, _ in R.TRANSITIONS.values():
        used |= starts
    assert used <= set(R.DISPATCH_STATUSES)


@pytest.mark.parametrize(
    ("category", "wanted"),
    [
        ("source", values(NeedSource)),
        ("alarm_code", values(E.AlarmStatus) | {"device_silent"}),
        ("condition_category", values(E.ConditionCategory)),
        ("disposition", values(E.Disposition)),
        ("symptom_category", values(E.SymptomCategory)),
        ("operator_assessment", values(E.OperatorAssessment)),
        ("device_type", values(E.DeviceType)),
        ("urgency", values(E.Urgency)),
        ("transport_origin", values(E.PickupPlace)),
        ("transport_destination", values(E.Destination)),
        ("mobility", values(E.Mobility)),
        ("infection_status", values(E.InfectionStatus)),
        ("age_band", values(E.AgeBand)),
        ("client_flags", values(E.ClientFlag)),
        ("status", values(E.TeamAvailability)),
        ("service", values(E.TeamType) | values(Service) | {"control_room"}),
        ("outcome", values(E.Outcome)),
        ("team_action", values(E.TeamAction)),
        ("command", values(E.ControlCommand)),
        ("prio", values(Priority)),
        ("role", set(ROLES) | {"team"}),
        ("candidate", set(CANDIDATE_CODES) | set(OFF_DUTY)),
        ("deadletter_reason", values(Reason)),
    ],
)
def test_every_contract_enum_is_labelled(category: str, wanted: set[str]) -> None:
    assert not missing(category, wanted)


def test_a_need_signal_is_always_one_of_the_labelled_categories() -> None:
    # The machine's signal: alarm code, else condition category, else disposition, else source.
    assert 'need.get("alarm_code")' in MACHINE and 'need.get("condition_category")' in MACHINE
    signals = values(E.AlarmStatus) | {"device_silent"} | values(E.ConditionCategory)
    signals |= values(E.Disposition) | values(NeedSource)
    labelled = set().union(
        *(LABELS[c] for c in ("alarm_code", "condition_category", "disposition", "source"))
    )
    assert signals <= labelled


def test_the_rules_vocabulary_is_labelled() -> None:
    fields = build_fields(load_registry())
    assert not missing("field", fields)
    problems = []
    for field in fields.values():
        if field.name in ("municipality", "region") or field.kind == "time":
            continue  # names come from the region data; times are times
        problems += missing(field.name, field.values)
    assert not problems
    # The safety guard's fields and values are said in words in the need panel.
    for name, triggers, _ in LIFE_THREATENING:
        assert not missing("field", [name]) and not missing(name, triggers)


def test_the_simulators_vocabulary_is_labelled() -> None:
    skills = {s for _, _, _, plan in population.TEAM_PLAN for s in plan}
    rules_text = (ROOT / "rules" / "default" / "sote-default.yaml").read_text(encoding="utf-8")
    for match in re.findall(r"skills: \[([^\]]*)\]", rules_text):
        skills |= {s.strip() for s in match.split(",") if s.strip()}
    places = set(population.PLACES) | set(
        re.findall(r'"(\w+)"', inspect.getsource(basic.BasicSimulator._alarm))
    ) & set(population.PLACES)
    assert not (missing("skill", skills) + missing("place", places))


def test_every_region_municipality_has_a_swedish_and_finnish_name() -> None:
    for municipality in load_registry().municipalities.values():
        assert municipality.name_fi.strip() and municipality.name_sv.strip()


def test_the_whatif_report_and_its_ui_are_labelled() -> None:
    from simulators.whatif.report import KPI_KEYS

    assert set(KPI_KEYS) | {"by_service"} <= set(LABELS["whatif_kpi"])
    rules_js = (ROOT / "ui_static" / "js" / "rules.js").read_text(encoding="utf-8")
    used = set(re.findall(r'label\("whatif", "(\w+)"', rules_js))
    used |= set(re.findall(r'"(\w+)"', rules_js.split('["kpi", "baseline"', 1)[1].split("]")[0]))
    used |= {"kpi", "run"}
    html = (ROOT / "ui_static" / "rules.html").read_text(encoding="utf-8")
    assert 'data-i18n="whatif.run"' in html
    missing = sorted(used - set(LABELS["whatif"]))
    assert not missing, missing
    for category in ("whatif", "whatif_kpi"):
        for key, words in LABELS[category].items():
            assert all(words.get(lang) for lang in LANGS), (category, key)
