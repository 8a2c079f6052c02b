"""Hostile input: records that every input topic must refuse, for the fuzz test and its
benchmark (tests/integration/test_security.py, bench/fuzz_worker.py).

Each record is built from a valid event of its topic and broken in one way: malformed JSON,
wrong JSON types, huge values, control characters, a personal identity code, odd ids, an
unknown kind or version, a future time or an unknown municipality. Each one, whatever it is,
must end on ``tike.deadletter`` with a reason; none may become a need or stop the worker.
Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tike import pii, topics
from tike.examples import example

MAX_BYTES = 65536


def _valid(kind: str, rng: random.Random, now: datetime) -> dict[str, Any]:
    base = {
        "event_id": f"fz-{rng.getrandbits(64):016x}",
        "occurred_at": now.isoformat(),
        "source": "fuzz",
    }
    if kind == "team_event":
        return {
            **base,
            "kind": kind,
            "team_id": "T1",
            "dispatch_id": "dsp-1",
            "region": "etela-pohjanmaa",
            "action": "accept",
        }
    if kind == "control_action":
        return {
            **base,
            "kind": kind,
            "region": "etela-pohjanmaa",
            "need_id": "need-1",
            "command": "close",
            "actor": "fuzz@example.fi",
            "reason": "test",
        }
    doc: dict[str, Any] = orjson.loads(example(kind, now).model_dump_json())
    return {**doc, **base}


def _strings(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the string values of a document."""
    if isinstance(doc, str):
        return [path]
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _strings(v, (*path, k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _strings(v, (*path, i))]
    return []


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _code(rng: random.Random) -> str:
    """A valid personal identity code (random date, century sign and number)."""
    while True:
        ddmmyy = f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(0, 99):02d}"
        number = f"{rng.randint(2, 899):03d}"
        sign = rng.choice(["-", "+", "A", "B", "U", "Y", ""])
        code = f"{ddmmyy}{sign}{number}{pii.CHECK_CHARS[int(ddmmyy + number) % 31]}"
        if pii.contains_code(code):
            return code


Breaker = Callable[[dict[str, Any], random.Random, datetime], bytes | None]


def _not_json(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    raw = orjson.dumps(doc)
    return rng.choice(
        [
            raw[: rng.randint(1, len(raw) - 1)],  # truncated
            raw.replace(b":", b"=", 1),
            bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) + b"\xff",
            b"{" * 2000 + b"}" * 2000,  # nesting deeper than any parser should follow
            b"\xef\xbb\xbf" + raw,  # a byte-order mark
            raw + b"garbage",
        ]
    )


def _not_object(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    return orjson.dumps(rng.choice([[doc], 1, "text", None, True, 1.5, []]))


def _empty(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes | None:
    return rng.choice([b"", None])


def _oversize(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    return orjson.dumps({**doc, "padding": "x" * (MAX_BYTES + rng.randint(1, 1000))})


def _wrong_type(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    field = rng.choice(sorted(k for k in doc if k not in ("kind", "schema_version")))
    # Values no field takes in any form (pydantic's lax mode reads "1" as 1 and true as 1).
    doc[field] = rng.choice([{"unexpected": [1, "x"]}, [{"x": 1}], [[None]], {"$ne": None}])
    return orjson.dumps(doc)


def _huge(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        doc["location"] = {"place": "x", "lat": rng.choice([1e308, -1e308, 91.0]), "lon": 1.0}
    elif choice == 1:
        doc["event_id"] = "e" * rng.randint(65, 30000)
    elif choice == 2:
        doc["occurred_at"] = "9" * rng.randint(30, 5000)
    elif choice == 3:
        doc["source"] = 10 ** rng.randint(19, 300)  # a number, never a string
    else:
        doc["schema_version"] = 2 ** rng.randint(64, 200)
    if choice >= 3:  # beyond 64 bits: orjson cannot write it, the standard library can
        return json.dumps(doc).encode()
    return orjson.dumps(doc)


def _control(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    path = rng.choice(_strings(doc))
    text = str(_get(doc, path))
    at = rng.randint(0, len(text))
    bad = rng.choice(["\x00", "\x1b[31m", "\r\n", "\x7f", "\x85", "\u2028", "\t", "\x08"])
    _set(doc, path, text[:at] + bad + text[at:])
    return orjson.dumps(doc)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _identity_code(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    code = _code(rng)
    where = rng.randrange(3)
    if where == 0:  # replaces or joins a string field
        path = rng.choice(_strings(doc))
        _set(doc, path, rng.choice([code, f"x{code}", f"asiakas {code} kotona"]))
    elif where == 1:  # an extra field
        doc[rng.choice(["note", "hetu", "client_ref"])] = code
    else:  # not even JSON
        return b"hetu=" + code.encode() + b"; " + orjson.dumps(doc)[:50]
    return orjson.dumps(doc)


def _odd_id(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    odd = rng.choice(
        [
            "T1:v",
            "X:stream",
            "",
            " ",
            "ä" * 5,
            "a/b",
            "../../etc",
            "{team}",
            "x" * 65,
            "-lead",
            "id with space",
            "🙂",
            "tike:board:x",
            "a\\b",
            "NaN",
        ]
    )
    fields = [f for f in ("team_id", "dispatch_id", "need_id", "region") if f in doc]
    if fields and odd != "NaN":
        doc[rng.choice(fields)] = odd
    else:
        doc["event_id"] = rng.choice(["short", "has space here", "ä" * 10, "x" * 65])
    return orjson.dumps(doc)


def _kind_or_version(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    if rng.random() < 0.5:
        doc["kind"] = rng.choice(
            [k for k in topics.INPUT_KINDS.values() if k != doc.get("kind")]
            + ["DROP TABLE", "", "x" * 300]
        )
    else:
        doc["schema_version"] = rng.choice([0, 2, "1", 1.5, -1])
    return orjson.dumps(doc)


def _future(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    doc["occurred_at"] = (now + timedelta(days=rng.randint(1, 3650))).isoformat()
    return orjson.dumps(doc)


def _municipality(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    code = rng.choice(["000", "999", "12", "1234", "abc"])
    if "municipality" in doc:
        doc["municipality"] = code
    elif "pickup" in doc:
        doc["pickup"]["municipality"] = code
    elif "coverage" in doc:
        doc["coverage"] = [code]
    else:
        doc["region"] = rng.choice(["nowhere", "etela-pohjanmaa-2"])
    return orjson.dumps(doc)


def _extra_field(doc: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    doc[rng.choice(["__proto__", "constructor", "admin", "$where", "name"])] = "x"
    return orjson.dumps(doc)


BREAKERS: dict[str, Breaker] = {
    "not_json": _not_json,
    "not_object": _not_object,
    "empty": _empty,
    "oversize": _oversize,
    "wrong_type": _wrong_type,
    "huge": _huge,
    "control_chars": _control,
    "identity_code": _identity_code,
    "odd_id": _odd_id,
    "kind_or_version": _kind_or_version,
    "future_time": _future,
    "unknown_place": _municipality,
    "extra_field": _extra_field,
}
#: Oversize records are costly to send; fewer of them.
WEIGHTS = {name: (0.2 if name == "oversize" else 1.0) for name in BREAKERS}


def hostile(
    seed: int, count: int, now: datetime | None = None
) -> Iterator[tuple[str, str, bytes | None]]:
    """``count`` hostile records: (topic, how it is broken, value)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    names = list(BREAKERS)
    weights = [WEIGHTS[n] for n in names]
    for _ in range(count):
        topic = rng.choice(list(topics.INPUT_KINDS))
        how = rng.choices(names, weights)[0]
        yield topic, how, BREAKERS[how](_valid(topics.INPUT_KINDS[topic], rng, now), rng, now)


def random_key(rng: random.Random) -> bytes | None:
    """A record key: none, empty or random printable bytes."""
    return rng.choice([None, b"", "".join(rng.choices(string.printable, k=12)).encode()])
