"""A team's projection in a real Redis: refusals stay in the team's snapshot until the
dispatch moves on, and applying the same records again changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway.board_projection import items_of
from gateway.store import Store, board_key, team_key
from tike import topics
from tike_cli.harness import start_redis

EPOCH = "e1"
TEAM = "EP-AMB-1"


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    child, url = start_redis(tmp_path)
    client = aioredis.Redis.from_url(url)
    try:
        s = Store(client)
        assert await s.start_epoch(EPOCH) == EPOCH
        yield s
    finally:
        await client.aclose()
        child.stop()


def _dispatch(version: int, status: str, at: str, dispatch_id: str = "dsp-1") -> bytes:
    return orjson.dumps(
        {
            "kind": "dispatch",
            "schema_version": 1,
            "dispatch_id": dispatch_id,
            "version": version,
            "team_id": TEAM,
            "status": status,
            "updated_at": at,
        }
    )


def _refusal(reason: str, at: str, dispatch_id: str = "dsp-1") -> bytes:
    return orjson.dumps(
        {
            "kind": "dispatch_refusal",
            "schema_version": 1,
            "dispatch_id": dispatch_id,
            "team_id": TEAM,
            "action": "on_site",
            "event_id": f"ev-{at}",
            "reason": reason,
            "at": at,
        }
    )


class Feed:
    """Applies records of tike.dispatches at consecutive offsets of one partition."""

    def __init__(self, store: Store) -> None:
        self.store, self.offset = store, 0

    async def __call__(self, *values: bytes) -> None:
        items = [i for v in values for i in items_of(topics.DISPATCHES, v, live=False)]
        self.offset += len(values)
        assert await self.store.apply(EPOCH, "d:0", self.offset, items, 100, 100) >= 0


async def _snapshot(store: Store) -> list[tuple[str, Any]]:
    _, _, items = await store.snapshot(team_key(TEAM))
    return [(i["kind"], i.get("version") or i.get("reason")) for i in items]


async def test_a_refusal_stays_in_the_snapshot_until_the_dispatch_moves_on(store: Store) -> None:
    feed = Feed(store)
    offer = _dispatch(1, "requested", "2026-01-01T10:00:00+00:00")
    early = _refusal("cannot on_site a dispatch that is requested", "2026-01-01T10:00:05+00:00")
    await feed(offer, early)
    assert await _snapshot(store) == [
        ("dispatch", 1),
        ("dispatch_refusal", "cannot on_site a dispatch that is requested"),
    ]
    # A later refusal replaces it; the stream still carries both.
    later = _refusal("cannot complete a dispatch that is requested", "2026-01-01T10:00:09+00:00")
    await feed(later)
    assert (await _snapshot(store))[1] == (
        "dispatch_refusal",
        "cannot complete a dispatch that is requested",
    )
    assert len(await store.since(team_key(TEAM), 0, 100) or []) == 3
    # The dispatch moves on: the refusal is gone from the snapshot.
    accepted = _dispatch(2, "accepted", "2026-01-01T10:00:10+00:00")
    await feed(accepted)
    assert await _snapshot(store) == [("dispatch", 2)]
    # Applying every record again (a replay) keeps the snapshot as it is: the stale refusals
    # are older than the dispatch, and the old version is below the kept one.
    await feed(offer, early, later, accepted)
    assert await _snapshot(store) == [("dispatch", 2)]
    # A refusal of a dispatch the team no longer holds (or never held) is not kept.
    done = _dispatch(3, "completed", "2026-01-01T10:00:20+00:00")
    await feed(
        done, _refusal("cannot accept a dispatch that is completed", "2026-01-01T10:00:21+00:00")
    )
    await feed(_refusal("unknown dispatch", "2026-01-01T10:00:22+00:00", dispatch_id="dsp-9"))
    assert await _snapshot(store) == []
    assert await store.redis.hlen(team_key(TEAM) + ":refusal") == 0


async def test_an_older_refusal_applied_late_does_not_replace_the_newer_one(store: Store) -> None:
    feed = Feed(store)
    await feed(_dispatch(1, "requested", "2026-01-01T10:00:00+00:00"))
    await feed(_refusal("newer", "2026-01-01T10:00:09+00:00"))
    await feed(_refusal("older", "2026-01-01T10:00:05.500000+00:00"))
    assert await _snapshot(store) == [("dispatch", 1), ("dispatch_refusal", "newer")]


async def test_ids_that_could_collide_or_break_the_script_are_skipped(store: Store) -> None:
    """Team ``X:stream`` once made the script fail with WRONGTYPE (and retry for ever); team
    ``T1:v`` named team T1's versions. Such items are skipped and counted, the rest apply."""
    good = _dispatch(1, "requested", "2026-01-01T10:00:00+00:00")
    await store.redis.xadd(team_key("X") + ":stream", {"d": b"{}"})  # team X exists
    poison = [
        ("dispatch", "X:stream", "dsp-1", "1", "keep", good.decode()),
        ("dispatch", "T1:v", "dsp-1", "1", "keep", good.decode()),
        ("note", "a b", "", "0", "", good.decode()),
        ("board", "etela-pohjanmaa:need", "need:n1", "1", "upsert", "{}"),
        ("board", "etela-pohjanmaa", "no-entity", "1", "upsert", "{}"),
    ]
    items = poison + items_of(topics.DISPATCHES, good, live=False)
    assert await store.apply(EPOCH, "d:0", 1, items, 100, 100) == 1
    assert await _snapshot(store) == [("dispatch", 1)]
    assert (await store.deadletters())["unprojectable"] == len(poison)
    assert await store.redis.type(team_key("X") + ":stream") == b"stream"
    assert not await store.redis.exists("tike:team:T1:v:v", "tike:team:X:stream:v")
    assert (await store.offsets())["d:0"] == 1


def test_keys_refuse_ids_off_the_pattern() -> None:
    for bad in ("T1:v", "X:stream", "", "a b", "x\n"):
        with pytest.raises(ValueError, match="not a valid id"):
            team_key(bad)
        with pytest.raises(ValueError, match="not a valid id"):
            board_key(bad)
    for topic, doc in (
        (
            topics.DISPATCHES,
            {
                "kind": "dispatch",
                "team_id": "X:stream",
                "dispatch_id": "d1",
                "version": 1,
                "status": "requested",
            },
        ),
        (
            topics.DISPATCHES,
            {
                "kind": "dispatch",
                "team_id": "T1",
                "dispatch_id": "d:1",
                "version": 1,
                "status": "requested",
            },
        ),
        (
            topics.BOARD,
            {"region": "r:1", "entity": "need", "id": "n1", "version": 1, "op": "upsert"},
        ),
    ):
        with pytest.raises(ValueError, match="not a valid id"):
            items_of(topic, orjson.dumps(doc), live=False)
