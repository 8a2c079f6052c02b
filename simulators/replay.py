"""Record input topics to a file, and replay a recording at ×N speed.

A recording is JSON Lines, one record per line, oldest first::

    {"topic": "tike.in.alarms", "key": "dev-1", "value": {...}, "ts": 1763900000000}

``value`` is the record's JSON (``value_b64`` instead when it is not JSON). Replay keeps
the recorded gaps between records, divided by the speed, and each record's topic and key.

A recording can be bounded in time (:func:`time_window`, ``tike record --since/--until/
--duration``); the bounds apply to the broker's record timestamps.

Replayed as they are, the records repeat their event ids, so a stack that has seen them
recognises them as redeliveries (right for testing recovery). ``fresh=True`` makes them new
traffic: every id is derived anew per replay run, times are moved to the replay's clock, and
the events are tagged ``synthetic`` so that KPIs can leave them out.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka_log import partitions_of, read_records

#: Fields that identify an input; ``fresh`` replays derive new ones.
ID_FIELDS = ("event_id", "request_id", "call_id")


@dataclass(frozen=True)
class Recorded:
    topic: str
    key: bytes | None
    value: bytes
    ts: int  # ms since the epoch (the broker's record timestamp)

    def line(self) -> bytes:
        out: dict[str, Any] = {"topic": self.topic, "key": _text(self.key), "ts": self.ts}
        try:
            out["value"] = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            out["value_b64"] = base64.b64encode(self.value).decode()
        return orjson.dumps(out)

    @classmethod
    def parse(cls, line: bytes) -> Recorded:
        data = orjson.loads(line)
        if "value_b64" in data:
            value = base64.b64decode(data["value_b64"])
        else:
            value = orjson.dumps(data["value"])
        key = data.get("key")
        return cls(
            str(data["topic"]), None if key is None else key.encode(), value, int(data["ts"])
        )


def _text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", "replace")


SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_span(text: str) -> timedelta:
    """A length of time: a number and a unit, ``90s``, ``10m``, ``2h``, ``1.5d``."""
    m = SPAN.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a length of time like 90s, 10m, 2h or 1d")
    return timedelta(seconds=float(m.group(1)) * UNITS[m.group(2)])


def parse_instant(text: str, now: datetime) -> datetime:
    """A point in time: ISO 8601 (``2026-11-23T10:00:00+02:00``; without an offset it is
    UTC), or a length of time (``10m``, ``2h``) meaning that long before ``now``."""
    if SPAN.match(text.strip()):
        return now - parse_span(text)
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time (2026-11-23T10:00:00Z) nor a time ago "
            "like 10m or 2h"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def time_window(
    since: str | None, until: str | None, duration: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """``(from, to)`` of a recording, either end open (``None``) when not bounded.

    - ``since`` alone: from then until now; ``until`` alone: from the oldest record on.
    - ``duration`` alone: the last ``duration`` (from ``now - duration`` until now).
    - ``since`` and ``duration``: ``duration`` after ``since``; ``until`` and ``duration``:
      ``duration`` before ``until``. All three is an error.
    """
    if since and until and duration:
        raise ValueError("give at most two of --since, --until and --duration")
    start = parse_instant(since, now) if since else None
    end = parse_instant(until, now) if until else None
    if duration:
        span = parse_span(duration)
        if start is not None:
            end = start + span
        elif end is not None:
            start = end - span
        else:
            start = now - span
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    return start, end


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def record(
    bootstrap: str,
    topic_names: Iterable[str],
    out: Path,
    since_ms: int = 0,
    until_ms: int | None = None,
) -> int:
    """Write the records of the topics with a timestamp from ``since_ms`` (to ``until_ms``,
    both inclusive) to ``out``, oldest first."""
    records: list[Recorded] = []
    for topic in topic_names:
        for partition in await partitions_of(bootstrap, topic):
            found = await read_records(bootstrap, topic, partition, since_ms, until_ms=until_ms)
            for msg in found:
                records.append(Recorded(topic, msg.key, msg.value, msg.timestamp))
    records.sort(key=lambda r: r.ts)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        for rec in records:
            f.write(rec.line() + b"\n")
    return len(records)


def load(path: Path) -> list[Recorded]:
    """The records of a recording, oldest first. A bad line is an error with its number."""
    out: list[Recorded] = []
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Recorded.parse(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: not a recorded record ({exc})") from exc
    out.sort(key=lambda r: r.ts)
    return out


def freshen(rec: Recorded, run: str, shift: timedelta) -> Recorded:
    """The record as new traffic: ids derived with ``run``, times moved by ``shift``,
    tagged synthetic. Records that are not JSON objects are left as they are."""
    try:
        data = orjson.loads(rec.value)
    except orjson.JSONDecodeError:
        return rec
    if not isinstance(data, dict):
        return rec
    for name in ID_FIELDS:
        if isinstance(data.get(name), str):
            data[name] = f"{data[name][:52]}.{run}"
    for name, value in list(data.items()):
        if name.endswith("_at") and isinstance(value, str):
            try:
                moved = datetime.fromisoformat(value) + shift
            except ValueError:
                continue
            data[name] = moved.isoformat()
    if "event_id" in data:
        data["synthetic"] = True
    return Recorded(
        rec.topic, rec.key, orjson.dumps(data), rec.ts + int(shift / timedelta(milliseconds=1))
    )


def schedule(records: list[Recorded], speed: float) -> Iterator[tuple[float, Recorded]]:
    """``(seconds after the start, record)``: the recorded gaps divided by ``speed``."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    if not records:
        return
    first = records[0].ts
    for rec in records:
        yield (rec.ts - first) / 1000 / speed, rec


@dataclass
class ReplayResult:
    sent: int
    seconds: float
    late_max_ms: float  # the most a record was produced behind its schedule


async def replay(
    bootstrap: str,
    records: list[Recorded],
    speed: float = 1.0,
    fresh: bool = False,
    topic_map: dict[str, str] | None = None,
) -> ReplayResult:
    """Produce ``records`` on their recorded schedule, ``speed`` times faster."""
    if fresh and records:
        run = f"r{int(time.time() * 1000) % 10**9}"
        first = datetime.fromtimestamp(records[0].ts / 1000, UTC)
        shift = datetime.now(UTC) - first
        records = [freshen(r, run, shift) for r in records]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    late = 0.0
    sent = 0
    try:
        for at, rec in schedule(records, speed):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay * 1000)
            topic = (topic_map or {}).get(rec.topic, rec.topic)
            await producer.send(topic, rec.value, key=rec.key)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return ReplayResult(sent, loop.time() - start, round(late, 1))
