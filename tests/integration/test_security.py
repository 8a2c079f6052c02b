"""Security hardening against a real broker, Redis, worker and gateway: revocation by token
id, audited CLI writes, the access log, and hostile input (the fuzz test)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from simulators.hostile import hostile, random_key
from tests.integration.gw import bearer
from tests.integration.harness import Gateway, Worker
from tike import topics
from tike.examples import example
from tike.kafka_log import partitions_of
from tike.records import stable_id

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """The first truthy result of ``check()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.2)


async def _audit(http: httpx.AsyncClient, action: str, target: str) -> dict[str, Any] | None:
    records = (await http.get("/api/audit?limit=1000", headers=bearer("admin"))).json()
    return next((r for r in records if r["action"] == action and r["target"] == target), None)


async def test_revocation_lasts_as_long_as_the_real_token(
    http: httpx.AsyncClient, redis_url: str
) -> None:
    """A token revoked with ``exp=0`` was accepted again 2.5 s later; a huge ``exp`` gave 503.
    Now the expiry comes from the record made when the token was issued."""
    body = {"role": "control_room", "sub": "anna@example.fi", "ttl_s": 3600}
    made = (await http.post("/api/tokens", json=body, headers=bearer("admin"))).json()
    victim = {"Authorization": f"Bearer {made['token']}"}
    assert (await http.get("/api/me", headers=victim)).json()["sub"] == "anna@example.fi"
    issued = await eventually(lambda: _audit(http, "token.issue", made["jti"]))
    assert issued["after"] == {
        "jti": made["jti"],
        "sub": "anna@example.fi",
        "role": "control_room",
        "exp": made["exp"],
    }
    assert issued["actor"] == "tester@example.fi" and issued["role"] == "admin"
    assert made["token"] not in str(issued)
    for exp in (0, 10**30):  # whatever the caller says
        resp = await http.post(
            "/api/tokens/revoke", headers=bearer("admin"), json={"jti": made["jti"], "exp": exp}
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["until"] == made["exp"] and resp.json()["expiry_recorded"]
    r = aioredis.Redis.from_url(redis_url)
    try:
        ttl = await r.ttl(f"tike:revoked:{made['jti']}")
    finally:
        await r.aclose()
    assert ttl > 3000  # until the token's own expiry (an hour) plus a minute
    assert (await http.get("/api/me", headers=victim)).status_code == 401
    # An id with no record (say, Redis lost it) is revoked for the longest token lifetime.
    resp = await http.post(
        "/api/tokens/revoke", json={"jti": "unknown-id"}, headers=bearer("admin")
    )
    assert resp.status_code == 202 and not resp.json()["expiry_recorded"]
    assert resp.json()["until"] >= time.time() + 7 * 86400 - 60


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tike", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_tike_token_is_audited_and_recorded_first(
    gateway: Gateway, http: httpx.AsyncClient, redis_url: str
) -> None:
    env = {k: v for k, v in gateway.env.items() if k.startswith("TIKE_")}
    done = await asyncio.to_thread(
        _cli, env, "token", "--role", "operator", "--sub", "liisa@example.fi", "--by", "it-admin"
    )
    assert done.returncode == 0, done.stderr
    jti = done.stderr.split(" id ")[1].split(",")[0]
    record = await eventually(lambda: _audit(http, "token.issue", jti))
    assert record["actor"] == "it-admin" and record["via"] == "cli"
    r = aioredis.Redis.from_url(redis_url)
    try:
        assert await r.exists(f"tike:token:{jti}")
    finally:
        await r.aclose()
    # No subject, a lifetime over the maximum, or no audit log: no token.
    assert (await asyncio.to_thread(_cli, env, "token", "--role", "operator")).returncode == 2
    over = await asyncio.to_thread(
        _cli, env, "token", "--role", "operator", "--sub", "x1", "--ttl", str(8 * 86400)
    )
    assert over.returncode == 2 and "maximum token lifetime" in over.stderr
    down = await asyncio.to_thread(
        _cli,
        {**env, "TIKE_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
        "token",
        "--role",
        "operator",
        "--sub",
        "x1",
    )
    assert down.returncode == 1 and "refused" in down.stderr and down.stdout == ""


FUZZ_RECORDS = 10_000
VALID_EVERY = 100  # one valid alarm among every hundred hostile records


async def test_hostile_records_are_dead_lettered_and_valid_ones_still_become_needs(
    broker: str, worker: Worker
) -> None:
    """10,000 generated hostile records on every input topic (malformed JSON, wrong types,
    huge values, control characters, identity codes, odd ids, ...) through a real worker:
    every one is dead-lettered with a reason, the worker stays up, and the valid alarms sent
    among them become needs."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    prod = AIOKafkaProducer(
        bootstrap_servers=broker, acks="all", linger_ms=5, max_request_size=1 << 20
    )
    await prod.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in (topics.DEADLETTER, topics.NEEDS)
            for p in await partitions_of(broker, t)
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        rng = random.Random(15)
        sent: dict[tuple[str, int, int], str] = {}
        want_needs: set[str] = set()
        pending: list[tuple[str, str, Any]] = []
        for i, (topic, how, value) in enumerate(hostile(15, FUZZ_RECORDS)):
            key = random_key(rng) if value is not None else b"tombstone"  # a key is required then
            pending.append((topic, how, await prod.send(topic, value, key=key)))
            if i % VALID_EVERY == 0:
                alarm = example("safety_alarm").model_dump(mode="json")
                alarm.update(event_id=f"fz-ok-{i:06d}", device_id=f"dev-fz-{i}")
                want_needs.add(stable_id("need", "alarm", alarm["event_id"]))
                await prod.send(topics.ALARMS, orjson.dumps(alarm), key=b"dev")
            if len(pending) >= 500:
                for t, h, fut in pending:
                    meta = await fut
                    sent[(t, meta.partition, meta.offset)] = h
                pending.clear()
        for t, h, fut in pending:
            meta = await fut
            sent[(t, meta.partition, meta.offset)] = h
        assert len(sent) == FUZZ_RECORDS

        letters: dict[tuple[str, int, int], str] = {}
        needs: set[str] = set()
        deadline = time.monotonic() + 180
        while (len(letters) < len(sent) or not want_needs <= needs) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                for msg in msgs:
                    doc = orjson.loads(msg.value)
                    if tp.topic == topics.NEEDS:
                        needs.add(doc["need_id"])
                        continue
                    where = (doc["topic"], doc["partition"], doc["offset"])
                    if where in sent:
                        letters[where] = doc["reason"]
            assert worker.alive(), "the worker stopped"
        missing = [(w, sent[w]) for w in sent if w not in letters]
        assert not missing, f"{len(missing)} not dead-lettered, e.g. {missing[:5]}"
        assert all(letters.values()), "a dead letter without a reason"
        assert want_needs <= needs, f"{len(want_needs - needs)} valid alarms never became needs"
        assert worker.alive() and "tike_worker_up 1.0" in worker.metrics()
        reasons = Counter(letters.values())
        print(f"fuzz: {len(sent)} hostile records, all dead-lettered: {dict(reasons)}")
        assert reasons["personal_identity_code"] > 0 and reasons["oversize"] > 0
    finally:
        await prod.stop()
        await consumer.stop()
