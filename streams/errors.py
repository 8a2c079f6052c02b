"""Error policy: what happens to a record Tike cannot use. The policy is a hook.

The default policy sends the original bytes to ``tike.deadletter`` with the reason, counts it,
and lets the agent go on: a bad record never stops the worker.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson

from streams import metrics
from tike import pii
from tike.records import DeadLetter
from tike_core.decode import Rejection
from tike_core.stage import RawRecord

log = logging.getLogger("tike.deadletter")
__all__ = ["ErrorPolicy", "RawRecord", "dead_letter", "deadletter_policy"]


def dead_letter(record: RawRecord, rejection: Rejection, now: datetime | None = None) -> bytes:
    """The dead-letter record for a rejected input, as JSON bytes. Personal identity codes
    never reach it in clear: a record refused for one keeps its redacted form, and any code
    in the bytes of any other record (an oversize one, say) is masked too."""
    key = pii.mask_bytes(record.key) if record.key is not None else None
    value = rejection.redacted if rejection.redacted is not None else record.value
    value = pii.mask_bytes(value) if value is not None else None
    letter = DeadLetter(
        reason=rejection.reason.value,
        detail=pii.mask(rejection.detail[:2000]),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(value).decode() if value is not None else None,
        size=len(record.value or b""),
        received_at=now or datetime.now(UTC),
    )
    return orjson.dumps(letter.model_dump(mode="json"))


Send = Callable[[bytes, bytes], Awaitable[None]]
ErrorPolicy = Callable[[RawRecord, Rejection], Awaitable[None]]


def deadletter_policy(send: Send) -> ErrorPolicy:
    """Build the default policy around ``send(key, value)`` to the dead-letter topic."""

    async def policy(record: RawRecord, rejection: Rejection) -> None:
        metrics.DEADLETTERS.labels(rejection.reason.value).inc()
        log.warning(
            "dead letter: %s at %s[%s]@%s: %s",
            rejection.reason.value,
            record.topic,
            record.partition,
            record.offset,
            pii.mask(rejection.detail[:300]),
        )
        await send(record.topic.encode(), dead_letter(record, rejection))

    return policy
