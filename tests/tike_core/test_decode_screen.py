"""The raw-bytes screen of decode(): a record it clears skips the walks over its decoded
strings (identity codes, control characters), and that never changes the outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tike_core.decode as decode_module
from simulators.hostile import hostile
from tike import topics
from tike.events import screened
from tike.examples import EXAMPLES, example
from tike_core.decode import Reason, Rejection, decode

MAX = 65536
CODE = "131052-308T"  # a valid identity code (the format's own example)


def _outcome(result: object) -> Any:
    if isinstance(result, Rejection):
        return ("rejected", result.reason, result.redacted)
    return ("event", result)


def _unscreened(monkeypatch: pytest.MonkeyPatch, raw: bytes | None, kind: str) -> Any:
    with monkeypatch.context() as m:
        m.setattr(decode_module, "screened", lambda raw: False)
        return _outcome(decode(raw, kind, MAX))


def _alarm(**fields: object) -> bytes:
    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(fields)
    return orjson.dumps(data)


def test_ordinary_records_are_cleared_by_the_screen() -> None:
    """The fast path is the common one: every example input is cleared."""
    kinds = [k for k in topics.INPUT_KINDS.values() if k in EXAMPLES]
    assert len(kinds) >= 4
    for kind in kinds:
        assert screened(example(kind).model_dump_json().encode()), kind


def test_hostile_records_decode_the_same_with_and_without_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    seen: set[str] = set()
    for topic, how, raw in hostile(20261130, 3000, now):
        kind = topics.INPUT_KINDS[topic]
        assert _outcome(decode(raw, kind, MAX)) == _unscreened(monkeypatch, raw, kind), how
        seen.add(how)
    assert {"identity_code", "control_chars"} <= seen


@pytest.mark.parametrize(
    "raw",
    [
        _alarm(client_ref=CODE),
        _alarm(client_ref="x" + CODE.replace("-", "")),  # without the century sign
        # a code spelled with JSON escapes is not in the text verbatim
        _alarm(client_ref="x").replace(b'"x"', b'"' + CODE.replace("1", "\\u0031").encode() + b'"'),
        _alarm(**{"location": {"place": f"Kotikatu 1, {CODE}"}}),
    ],
)
def test_identity_codes_are_found_however_written(raw: bytes) -> None:
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.PERSONAL_IDENTITY_CODE


@pytest.mark.parametrize("text", ["a\u2028b", "a\x7fb", "a\x85b", "line\nbreak", "nul\x00"])
def test_control_characters_are_found_however_written(text: str) -> None:
    raw = _alarm(client_ref="x").replace(b'"x"', orjson.dumps(text))
    assert not screened(raw)
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.INVALID_FIELDS
    assert "control character" in result.detail


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('0123456789-+ABCFHUY \\"\u2028\x7f\né'), max_size=30))
def test_any_client_ref_decodes_the_same_with_and_without_the_screen(text: str) -> None:
    raw = _alarm(client_ref="x").replace(b'"x"', orjson.dumps(text))
    with pytest.MonkeyPatch.context() as m:
        expected = _unscreened(m, raw, "safety_alarm")
    assert _outcome(decode(raw, "safety_alarm", MAX)) == expected


def test_a_digit_run_that_only_looks_like_a_code_is_still_walked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A candidate anywhere (here in a number) sends the record down the full walk, which
    finds no code in any string, so the record decodes."""
    raw = _alarm(client_ref="ref-1").replace(b"{", b'{"n":1310523081,', 1)
    assert not screened(raw)
    expected = _unscreened(monkeypatch, raw, "safety_alarm")
    assert _outcome(decode(raw, "safety_alarm", MAX)) == expected
    assert not (expected[0] == "rejected" and expected[1] is Reason.PERSONAL_IDENTITY_CODE)
