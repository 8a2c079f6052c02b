"""Decode raw input bytes into a typed event, or a rejection with a clear reason.

Pure and total: any byte string gives an event or a :class:`Rejection`; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import orjson
from pydantic import ValidationError

from tike import pii
from tike.events import KINDS, SCHEMA_VERSION, SCREENED, EventBase, screened


class Reason(StrEnum):
    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_KIND = "unknown_kind"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_FIELDS = "invalid_fields"
    UNKNOWN_MUNICIPALITY = "unknown_municipality"
    UNKNOWN_REGION = "unknown_region"
    FUTURE_TIME = "future_time"
    PERSONAL_IDENTITY_CODE = "personal_identity_code"
    RULESET_REFUSED = "ruleset_refused"
    UNPROJECTABLE = "unprojectable"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str
    #: What the dead letter keeps instead of the original bytes (identity codes masked).
    redacted: bytes | None = None


def _identity_code(raw: bytes, obj: object) -> Rejection | None:
    """A rejection if the record holds a personal identity code anywhere (never says which)."""
    if obj is _NOT_JSON:
        masked = pii.mask_bytes(raw)
        if masked == raw:
            return None
        where, redacted = "the record", masked
    else:
        found = pii.find_in(obj)
        if found is None:
            return None
        where, redacted = found, orjson.dumps(pii.mask_in(obj))
    return Rejection(
        Reason.PERSONAL_IDENTITY_CODE,
        f"{where} holds a Finnish personal identity code; send a client pseudonym instead "
        "(the dead letter keeps the record with the code masked)",
        redacted,
    )


_NOT_JSON = object()


_MAX_ERRORS = 5


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:_MAX_ERRORS]:
        loc = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - _MAX_ERRORS
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def decode(raw: bytes | None, expected_kind: str, max_bytes: int) -> EventBase | Rejection:
    """Decode one record from the input topic whose records are ``expected_kind``."""
    if not raw:
        return Rejection(Reason.EMPTY, "record has no value")
    if len(raw) > max_bytes:
        return Rejection(Reason.OVERSIZE, f"record is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _identity_code(raw, _NOT_JSON) or Rejection(
            Reason.NOT_JSON, f"not valid UTF-8 JSON: {exc}"
        )
    clear = screened(raw)  # one search over the bytes instead of walks over the strings
    found = None if clear else _identity_code(raw, obj)
    if found is not None:
        return found
    if not isinstance(obj, dict):
        return Rejection(Reason.NOT_OBJECT, f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("kind", expected_kind)
    if kind != expected_kind:
        known = ", ".join(sorted(KINDS))
        return Rejection(
            Reason.UNKNOWN_KIND,
            f"kind {str(kind)[:40]!r} does not belong on this topic (expects {expected_kind!r}; "
            f"kinds are {known})",
        )
    version = obj.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        return Rejection(
            Reason.UNSUPPORTED_VERSION,
            f"schema_version {str(version)[:20]!r} is not supported (this worker reads "
            f"{SCHEMA_VERSION})",
        )
    model = KINDS[expected_kind]
    try:
        return model.model_validate(obj, context={SCREENED: True} if clear else None)
    except ValidationError as exc:
        return Rejection(Reason.INVALID_FIELDS, _summarise(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: never raise
        return Rejection(Reason.INVALID_FIELDS, f"{type(exc).__name__}: {exc}"[:500])
