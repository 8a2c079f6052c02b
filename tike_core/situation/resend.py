"""Which journaled outputs may be undelivered after a crash, and which of them to send again.

The situation agent sends each journal record and the outputs it lists together, without
waiting for each delivery. Faust flushes the producer before it commits input offsets, and
the agent flushes it before writing a snapshot, so:

- every record before the partition's newest snapshot was delivered with its outputs;
- every record up to the last one whose input offset is committed was delivered too (the
  commit came after a flush that covered everything sent before it);
- the records after that one may have reached the journal without their outputs (the worker
  died between the two). Their inputs come again and are recognised as redeliveries, so their
  outputs must be sent again from the journal.

A need is published once: a need output already on ``tike.needs`` is not sent again. Board
deltas, dispatches and decisions are versioned by entity, so a second identical copy changes
nothing downstream. Pure: the reading and sending are in ``streams/situation.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tike import topics

Record = dict[str, Any]
Output = dict[str, Any]


def undelivered(
    tail: Sequence[tuple[Record, int]], committed: Mapping[tuple[str, int], int]
) -> list[tuple[Record, int]]:
    """The ``(record, timestamp_ms)`` of the journal tail (after the newest snapshot) whose
    outputs may not have been delivered: everything after the last record whose input offset
    is below the group's committed offset for that input partition."""
    last = -1
    for i, (record, _) in enumerate(tail):
        cause = record.get("cause")
        if cause is None:
            continue  # a tick: no input of its own
        done = committed.get((cause["topic"], cause["partition"]))
        if done is not None and cause["offset"] < done:
            last = i
    return list(tail[last + 1 :])


def need_ids(records: Iterable[Record]) -> set[str]:
    """The need ids the records publish on ``tike.needs``."""
    return {
        out["value"]["need_id"]
        for record in records
        for out in record["outputs"]
        if out["topic"] == topics.NEEDS
    }


def to_resend(records: Iterable[Record], published: set[str]) -> list[Output]:
    """The outputs of ``records`` to send again, in order; a need already ``published`` (or
    earlier in ``records``) is left out."""
    seen = set(published)
    out: list[Output] = []
    for record in records:
        for item in record["outputs"]:
            if item["topic"] == topics.NEEDS:
                need_id = item["value"]["need_id"]
                if need_id in seen:
                    continue
                seen.add(need_id)
            out.append(item)
    return out
