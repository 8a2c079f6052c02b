"""Finnish personal identity codes (henkilötunnus, HETU): find them anywhere, mask them.

Tike works with client pseudonyms only. A source that sends an identity code anyway (in a
pseudonym, a place name, a free-text reason, an id) has its record dead-lettered with reason
``personal_identity_code``, and the dead letter keeps the record with every code masked.

A code is ``DDMMYY`` + century sign (``+``, ``-``, ``U``-``Y``, ``A``-``F``) + a three-digit
individual number + a check character, or the same without the century sign (10 characters,
as some systems store it). A candidate counts only if its date exists (in the century of its
sign, or in any of the three without one) and its check character is right: the remainder of
``DDMMYYNNN`` divided by 31 indexes ``0123456789ABCDEFHJKLMNPRSTUVWXY``. Candidates are searched
at every position, so a code inside a longer id or a sentence counts, but not inside a longer
run of digits. Letters count in upper case only, as the code is written: lower-case hex ids
(UUIDs, the simulator's pseudonyms) would otherwise match about one record in 4,000.
See docs/operations.md (Security) for the false-positive rate on simulated traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY = {"+": 1800, "-": 1900, "U": 1900, "V": 1900, "W": 1900, "X": 1900, "Y": 1900}
CENTURY.update(dict.fromkeys("ABCDEF", 2000))
# Overlapping search (a lookahead): every position where a candidate starts.
# Not preceded by a digit: a code is never the tail of a longer run of digits.
_CANDIDATE = re.compile(r"(?<![0-9])(?=([0-9]{6})([-+A-FU-Y]?)([0-9]{3})([0-9A-FHJ-NPR-Y]))")
_CANDIDATE_BYTES = re.compile(_CANDIDATE.pattern.encode())
MASK_CHAR = "X"


def _valid(ddmmyy: str, sign: str, individual: str, check: str, after: str) -> bool:
    if check.isdigit() and after.isdigit():
        return False  # a longer run of digits, not a code
    if CHECK_CHARS[int(ddmmyy + individual) % 31] != check:
        return False
    day, month, yy = int(ddmmyy[:2]), int(ddmmyy[2:4]), int(ddmmyy[4:])
    centuries = (CENTURY[sign],) if sign else (1900, 2000, 1800)
    for century in centuries:
        try:
            date(century + yy, month, day)
            return True
        except ValueError:
            continue
    return False


def spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every identity code in ``text``."""
    if len(text) < 10:
        return
    for m in _CANDIDATE.finditer(text):
        ddmmyy, sign, individual, check = m.groups()
        end = m.start() + 10 + len(sign)
        if _valid(ddmmyy, sign, individual, check, text[end : end + 1]):
            yield m.start(), end


def contains_code(text: str) -> bool:
    return next(spans(text), None) is not None


def mask(text: str) -> str:
    """``text`` with every character of every identity code replaced by ``X``."""
    chars = list(text)
    found = False
    for start, end in spans(text):
        chars[start:end] = MASK_CHAR * (end - start)
        found = True
    return "".join(chars) if found else text


def mask_bytes(raw: bytes) -> bytes:
    """``raw`` with the ASCII bytes of every identity code replaced by ``X`` (same length)."""
    if len(raw) < 10:
        return raw
    out = bytearray(raw)
    for m in _CANDIDATE_BYTES.finditer(raw):
        ddmmyy, sign, individual, check = (g.decode() for g in m.groups())
        end = m.start() + 10 + len(sign)
        if _valid(ddmmyy, sign, individual, check, raw[end : end + 1].decode("latin-1")):
            out[m.start() : end] = b"X" * (end - m.start())
    return bytes(out)


def raw_may_hold_code(raw: bytes) -> bool:
    """False only if no string or key of the JSON text ``raw`` can hold an identity code.

    Without a backslash escape, every character of a JSON string appears verbatim in the
    text, so a string that holds a code puts a candidate in the text itself (a preceding
    digit stays a digit, and an escape would need a backslash). One search over the bytes
    then clears a record instead of a walk over its decoded strings; a record that may hold
    one (a candidate anywhere, even in a number, or any escape) is walked with
    :func:`find_in`."""
    return b"\\" in raw or _CANDIDATE_BYTES.search(raw) is not None


def find_in(obj: Any, path: str = "", depth: int = 0) -> str | None:
    """The path (``location.place``, ``skills[2]``) of the first string, or mapping key, of a
    decoded JSON value that holds an identity code; None if there is none."""
    if isinstance(obj, str):
        return path or "(record)" if contains_code(obj) else None
    if depth > 64:
        return None  # orjson refuses deeper documents; pydantic refuses these anyway
    if isinstance(obj, dict):
        for key, value in obj.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and contains_code(key):
                return (path + "." if path else "") + "(a key)"
            found = find_in(value, here, depth + 1)
            if found:
                return found
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found = find_in(value, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def mask_in(obj: Any, depth: int = 0) -> Any:
    """A copy of a decoded JSON value with every identity code in strings and keys masked."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, dict) and depth <= 64:
        return {mask(str(k)): mask_in(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list) and depth <= 64:
        return [mask_in(v, depth + 1) for v in obj]
    return obj
