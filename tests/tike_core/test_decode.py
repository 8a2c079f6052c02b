import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tike.events import EventBase, SafetyAlarm
from tike.examples import example
from tike_core.decode import Reason, Rejection, decode

MAX = 65536


def _alarm_bytes(**overrides: object) -> bytes:
    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(overrides)
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


def test_valid_alarm_decodes() -> None:
    result = decode(_alarm_bytes(), "safety_alarm", MAX)
    assert isinstance(result, SafetyAlarm)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, Reason.EMPTY),
        (b"", Reason.EMPTY),
        (b"\xff\xfe garbage", Reason.NOT_JSON),
        (b"{not json", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"text"', Reason.NOT_OBJECT),
        (b"x" * (MAX + 1), Reason.OVERSIZE),
        (b'{"event_id": 123456789012345678901234567890}', Reason.INVALID_FIELDS),
        (b'{"a": ' * 2000 + b"1" + b"}" * 2000, Reason.NOT_JSON),
    ],
)
def test_bad_bytes_are_rejected_with_reason(raw: bytes | None, reason: Reason) -> None:
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert result.detail


def test_wrong_kind_names_the_expected_kind() -> None:
    result = decode(_alarm_bytes(kind="weather_report"), "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.UNKNOWN_KIND
    assert "'weather_report'" in result.detail and "'safety_alarm'" in result.detail


def test_record_of_another_input_kind_is_refused() -> None:
    raw = example("team_status").model_dump_json().encode()
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection) and result.reason is Reason.UNKNOWN_KIND


def test_future_schema_version_is_refused() -> None:
    result = decode(_alarm_bytes(schema_version=2), "safety_alarm", MAX)
    assert isinstance(result, Rejection) and result.reason is Reason.UNSUPPORTED_VERSION


def test_missing_and_wrong_fields_are_named() -> None:
    result = decode(_alarm_bytes(device_id=..., status_code="explosion"), "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.INVALID_FIELDS
    assert "device_id" in result.detail and "status_code" in result.detail


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_decoder_never_raises_on_bytes(raw: bytes) -> None:
    result = decode(raw, "safety_alarm", 1024)
    assert isinstance(result, Rejection | EventBase)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(SafetyAlarm.model_fields)), json_values))
def test_decoder_never_raises_on_alarm_shaped_objects(obj: dict[str, object]) -> None:
    base = orjson.loads(_alarm_bytes())
    base.update(obj)
    result = decode(orjson.dumps(base), "safety_alarm", MAX)
    assert isinstance(result, Rejection | SafetyAlarm)


def test_every_dead_letter_reason_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| ", text, re.M))
    assert {r.value for r in Reason} <= documented


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("team_status", "team_id", "T1:v"),
        ("team_status", "team_id", "X:stream"),
        ("team_status", "team_id", "-leading-dash"),
        ("team_status", "team_id", "a" * 65),
        ("team_event", "team_id", "T1:v"),
        ("team_event", "dispatch_id", "dsp:1"),
        ("team_event", "region", "etela-pohjanmaa:x"),
        ("control_action", "need_id", "need-1:seq"),
        ("control_action", "region", "etelä"),
        ("control_action", "team_id", "T 1"),
    ],
)
def test_entity_ids_off_the_pattern_are_refused(kind: str, field: str, value: str) -> None:
    base = {"event_id": "ev-12345678", "occurred_at": "2025-03-01T12:00:00+00:00", "source": "test"}
    objs = {
        "team_status": orjson.loads(example("team_status").model_dump_json()),
        "team_event": {
            **base,
            "team_id": "T1",
            "dispatch_id": "dsp-1",
            "region": "r1",
            "action": "accept",
        },
        "control_action": {
            **base,
            "region": "r1",
            "need_id": "need-1",
            "command": "reassign",
            "actor": "anna",
            "reason": "test",
            "team_id": "T2",
        },
    }
    good = decode(orjson.dumps(objs[kind]), kind, MAX)
    assert not isinstance(good, Rejection), good
    obj = {**objs[kind], field: value}
    result = decode(orjson.dumps(obj), kind, MAX)
    assert isinstance(result, Rejection), result
    assert result.reason is Reason.INVALID_FIELDS and field in result.detail


def test_the_entity_id_pattern_is_one_and_documented() -> None:
    from pathlib import Path

    from tike.events import ENTITY_ID_PATTERN, is_entity_id

    assert all(map(is_entity_id, ["T1", "sim-home-care-1", "need-abc.2", "etela-pohjanmaa"]))
    assert not any(map(is_entity_id, ["", "T1:v", "a/b", "x\n", "{t}", "a" * 65, "-x", "ä"]))
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    assert f"`{ENTITY_ID_PATTERN}`" in text
