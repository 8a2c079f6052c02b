"""Recordings and their replay schedule (pure parts of simulators/replay.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from simulators.replay import (
    Recorded,
    freshen,
    load,
    parse_instant,
    parse_span,
    schedule,
    time_window,
)
from tike.examples import example
from tike_core.decode import decode


def _alarm(ts: int) -> Recorded:
    return Recorded(
        "tike.in.alarms", b"dev-1", example("safety_alarm").model_dump_json().encode(), ts
    )


def test_a_recording_round_trips_json_and_binary_values(tmp_path: Path) -> None:
    records = [_alarm(2000), Recorded("tike.in.calls116117", None, b"\xff\x00 not json", 1000)]
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(r.line() + b"\n" for r in records))
    loaded = load(path)
    assert [r.ts for r in loaded] == [1000, 2000]  # oldest first
    assert loaded[0] == records[1]
    assert orjson.loads(loaded[1].value) == orjson.loads(records[0].value)
    assert loaded[1].key == b"dev-1"


def test_a_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(_alarm(1).line() + b'\n{"topic": 1}\n')
    with pytest.raises(ValueError, match=r"rec.jsonl:2: not a recorded record"):
        load(path)


def test_schedule_divides_the_recorded_gaps_by_the_speed() -> None:
    records = [_alarm(10_000), _alarm(12_000), _alarm(20_000)]
    assert [at for at, _ in schedule(records, 4.0)] == [0.0, 0.5, 2.5]
    with pytest.raises(ValueError):
        list(schedule(records, 0))


def test_fresh_replays_are_new_valid_synthetic_events_at_the_replay_time() -> None:
    rec = _alarm(1_000)
    original = orjson.loads(rec.value)
    shift = timedelta(days=3)
    first, second = freshen(rec, "r1", shift), freshen(rec, "r2", shift)
    data = orjson.loads(first.value)
    assert data["event_id"] != original["event_id"]
    assert data["event_id"] != orjson.loads(second.value)["event_id"]
    assert data["synthetic"] is True
    moved = datetime.fromisoformat(data["occurred_at"])
    assert moved - datetime.fromisoformat(original["occurred_at"]) == shift
    assert moved.tzinfo is not None and moved.utcoffset() == timedelta(0)
    assert first.ts == rec.ts + 3 * 86_400_000
    event = decode(first.value, "safety_alarm", 65536)
    assert getattr(event, "event_id", None) == data["event_id"], event  # still valid


def test_fresh_leaves_records_that_are_not_objects_alone() -> None:
    rec = Recorded("tike.in.alarms", None, b"[1, 2]", 5)
    assert freshen(rec, "r1", timedelta(hours=1)) == rec


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "duration", "window"),
    [
        (None, None, None, (None, None)),
        (None, None, "10m", (NOW - timedelta(minutes=10), None)),  # the last 10 minutes
        ("2h", None, None, (NOW - timedelta(hours=2), None)),
        (None, "1h", None, (None, NOW - timedelta(hours=1))),
        ("3h", "1h", None, (NOW - timedelta(hours=3), NOW - timedelta(hours=1))),
        (
            "2026-11-23T08:00:00+02:00",
            None,
            "2h",  # 2 h after --since
            (datetime(2026, 11, 23, 6, tzinfo=UTC), datetime(2026, 11, 23, 8, tzinfo=UTC)),
        ),
        (
            "2026-11-23T06:00:00",
            None,
            "90s",  # no offset: UTC
            (datetime(2026, 11, 23, 6, tzinfo=UTC), datetime(2026, 11, 23, 6, 1, 30, tzinfo=UTC)),
        ),
        (
            None,
            "2026-11-23T10:00:00Z",
            "1.5d",  # 1.5 days before --until
            (datetime(2026, 11, 21, 22, tzinfo=UTC), datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ),
    ],
)
def test_time_window_bounds(
    since: str | None, until: str | None, duration: str | None, window: tuple[object, object]
) -> None:
    assert time_window(since, until, duration, NOW) == window


@pytest.mark.parametrize(
    ("since", "until", "duration", "message"),
    [
        ("1h", "10m", "5m", "at most two"),
        ("10m", "1h", None, "ends"),
        ("yesterday", None, None, "neither an ISO 8601 time"),
        (None, None, "10 minutes", "not a length of time"),
        (None, None, "-5m", "not a length of time"),
    ],
)
def test_bad_time_windows_are_refused(
    since: str | None, until: str | None, duration: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        time_window(since, until, duration, NOW)


def test_parse_span_and_instant() -> None:
    assert parse_span("2h") == timedelta(hours=2)
    assert parse_instant("30s", NOW) == NOW - timedelta(seconds=30)
    assert parse_instant("2026-11-23T12:00:00+02:00", NOW) == NOW - timedelta(hours=2)
