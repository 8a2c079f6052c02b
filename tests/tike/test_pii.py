"""Finnish personal identity codes are found anywhere in any input and never kept in clear."""

from __future__ import annotations

import base64

import orjson
import pytest

from streams.errors import RawRecord, dead_letter
from tike import pii
from tike.examples import example
from tike_core.decode import Reason, Rejection, decode

MAX = 65536


def code(ddmmyy: str, sign: str, individual: str) -> str:
    return f"{ddmmyy}{sign}{individual}{pii.CHECK_CHARS[int(ddmmyy + individual) % 31]}"


VALID = [
    "131052-308T",  # the Digital and Population Data Services Agency's example
    code("010150", "+", "123"),
    code("290200", "A", "456"),  # 29.2.2000 exists
    *(code("150375", sign, "902") for sign in "-UVWXY"),
    *(code("010203", sign, "002") for sign in "ABCDEF"),
    "131052308T",  # without the century sign
]


@pytest.mark.parametrize("text", VALID)
def test_codes_are_found_with_every_century_sign_and_without_one(text: str) -> None:
    assert pii.contains_code(text)
    for wrapped in (f"x{text}", f"asiakas {text} soitti", f"simc{text}-2"):
        assert pii.contains_code(wrapped), wrapped
        assert text not in pii.mask(wrapped)


@pytest.mark.parametrize(
    "text",
    [
        "131052-308U",  # wrong check character
        "310252-308T",  # 31 February does not exist (and the check fails)
        code("290201", "A", "456"),  # 29.2.2001 does not exist
        "1131052308T",  # the tail of a longer run of digits
        "131052-308t",  # the check character is written in upper case
        "2025-03-01T12:00:00.123456+00:00",
        "kitchen",
        "sim-home-care-1",
    ],
)
def test_look_alikes_are_not_codes(text: str) -> None:
    assert not pii.contains_code(text)


def _alarm(**fields: object) -> dict[str, object]:
    return {**orjson.loads(example("safety_alarm").model_dump_json()), **fields}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"client": "131052308T"}, "client"),  # no separator
        ({"client": "simc-131052-308T"}, "client"),  # inside a pseudonym
        ({"location": {"place": "keittiö, hetu 131052-308T"}}, "location.place"),
        ({"device_component": "btn131052-308T"}, "device_component"),
        ({"event_id": "ev-131052-308T"}, "event_id"),
        ({"extra_field": ["ok", {"note": "131052-308T"}]}, "extra_field[1].note"),
    ],
)
def test_an_event_with_a_code_anywhere_is_refused_and_the_dead_letter_masks_it(
    fields: dict[str, object], where: str
) -> None:
    raw = orjson.dumps(_alarm(**fields))
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.PERSONAL_IDENTITY_CODE
    assert where in result.detail and "131052" not in result.detail
    letter = orjson.loads(dead_letter(RawRecord("tike.in.alarms", 0, 7, b"k", raw), result))
    assert letter["reason"] == "personal_identity_code"
    kept = base64.b64decode(letter["value_b64"])
    assert b"131052" not in kept and b"XXXXXX" in kept
    assert pii.find_in(orjson.loads(kept)) is None


def test_codes_in_free_text_of_commands_are_refused() -> None:
    base = {
        "event_id": "ev-12345678",
        "occurred_at": "2025-03-01T12:00:00+00:00",
        "source": "test",
        "region": "r1",
        "need_id": "need-1",
        "actor": "anna",
    }
    raw = orjson.dumps({**base, "command": "close", "reason": "asiakas 131052-308T kotona"})
    result = decode(raw, "control_action", MAX)
    assert isinstance(result, Rejection) and result.reason is Reason.PERSONAL_IDENTITY_CODE
    from pydantic import ValidationError

    from tike.events import ControlAction

    with pytest.raises(ValidationError, match="personal identity code"):
        ControlAction.model_validate({**base, "command": "close", "reason": "hetu 131052308T"})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"client": "131052-308T", broken',  # not JSON
        b"131052-308T" + b" " * 70000,  # oversize
        b"\xff\xfe 131052308T",  # not UTF-8
    ],
)
def test_no_dead_letter_keeps_a_code_in_clear(raw: bytes) -> None:
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection)
    letter = orjson.loads(dead_letter(RawRecord("t", 0, 1, b"131052-308T", raw), result))
    for field in ("value_b64", "key_b64"):
        assert b"131052" not in base64.b64decode(letter[field])
    assert "131052" not in letter["detail"]


def test_an_escaped_code_is_found_and_not_kept() -> None:
    raw = b'{"client": "\\u0031\\u0033\\u0031\\u0030\\u0035\\u0032-308T"}'
    result = decode(raw, "safety_alarm", MAX)
    assert isinstance(result, Rejection) and result.reason is Reason.PERSONAL_IDENTITY_CODE
    kept = base64.b64decode(
        orjson.loads(dead_letter(RawRecord("t", 0, 1, None, raw), result))["value_b64"]
    )
    assert "131052" not in orjson.loads(kept)["client"]
