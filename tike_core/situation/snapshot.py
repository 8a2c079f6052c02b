"""Snapshots of a partition's situation: compressed and split into chunks, so that a busy
region's state fits in Kafka records (1 MB by default) however large it grows.

Chunk records are keyed ``<partition>:<chunk>`` on a compacted topic; a snapshot is its
``journal_next_offset`` and is complete when all of its chunks are present. The newest
complete snapshot wins; chunks left over from older, larger snapshots are ignored.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable
from typing import Any

import orjson

CHUNK_BYTES = 256 * 1024


def pack(state: dict[str, Any]) -> bytes:
    """The state, serialised and compressed (taken at once: the state goes on changing)."""
    return zlib.compress(orjson.dumps(state), 1)


def records(
    partition: int, journal_next_offset: int, taken_at: str, blob: bytes
) -> list[tuple[bytes, bytes]]:
    """(key, value) records of one snapshot of a :func:`pack` ed state."""
    parts = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
    return [
        (
            f"{partition}:{i}".encode(),
            orjson.dumps(
                {
                    "kind": "situation_snapshot",
                    "partition": partition,
                    "journal_next_offset": journal_next_offset,
                    "taken_at": taken_at,
                    "chunk": i,
                    "chunks": len(parts),
                    "data": base64.b64encode(part).decode(),
                }
            ),
        )
        for i, part in enumerate(parts)
    ]


def encode(
    partition: int, journal_next_offset: int, taken_at: str, state: dict[str, Any]
) -> list[tuple[bytes, bytes]]:
    """(key, value) records of one snapshot."""
    return records(partition, journal_next_offset, taken_at, pack(state))


def decode(values: Iterable[bytes]) -> tuple[dict[str, Any], int] | None:
    """The newest complete snapshot among chunk records: (state, journal_next_offset)."""
    snapshots: dict[int, dict[int, dict[str, Any]]] = {}
    for raw in values:
        rec = orjson.loads(raw)
        if rec.get("kind") == "situation_snapshot":
            snapshots.setdefault(int(rec["journal_next_offset"]), {})[int(rec["chunk"])] = rec
    for offset in sorted(snapshots, reverse=True):
        chunks = snapshots[offset]
        total = next(iter(chunks.values()))["chunks"]
        if set(chunks) == set(range(total)):
            blob = b"".join(base64.b64decode(chunks[i]["data"]) for i in range(total))
            return orjson.loads(zlib.decompress(blob)), offset
    return None
