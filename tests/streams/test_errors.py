import base64

import orjson

from streams.errors import RawRecord, dead_letter
from tike.records import DeadLetter
from tike_core.decode import Reason, Rejection


def test_dead_letter_keeps_original_bytes_and_coordinates() -> None:
    raw = b"\xff\x00 not json"
    letter = DeadLetter.model_validate(
        orjson.loads(
            dead_letter(
                RawRecord("tike.in.alarms", 3, 42, b"k1", raw),
                Rejection(Reason.NOT_JSON, "not valid UTF-8 JSON"),
            )
        )
    )
    assert letter.reason == "not_json"
    assert (letter.topic, letter.partition, letter.offset) == ("tike.in.alarms", 3, 42)
    assert base64.b64decode(letter.value_b64 or "") == raw
    assert base64.b64decode(letter.key_b64 or "") == b"k1"
    assert letter.size == len(raw)


def test_dead_letter_of_a_record_without_value() -> None:
    letter = orjson.loads(
        dead_letter(RawRecord("t", 0, 1, None, None), Rejection(Reason.EMPTY, "no value"))
    )
    assert letter["value_b64"] is None and letter["size"] == 0
