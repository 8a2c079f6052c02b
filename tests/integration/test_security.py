"""Security hardening against a real broker, Redis, worker and gateway: revocation by token
id, audited CLI writes, the access log, and hostile input (the fuzz test)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from websockets.asyncio.client import connect

from gateway.auth import issue
from streams.kafka_log import partitions_of, read_partition
from tests.integration.conftest import Send
from tike import topics
from tike_cli.gateway_client import bearer
from tike_cli.harness import SECRET, Gateway, Worker, fuzz_worker

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
        [sys.executable, "-m", "tike_cli", *args],
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


async def test_hostile_records_are_dead_lettered_and_valid_ones_still_become_needs(
    broker: str, worker: Worker
) -> None:
    """10,000 generated hostile records on every input topic (malformed JSON, wrong types,
    huge values, control characters, identity codes, odd ids, ...) through a real worker:
    every one is dead-lettered with a reason, the worker stays up, and the valid alarms sent
    among them become needs."""
    result = await fuzz_worker(broker, worker, FUZZ_RECORDS, seed=15, timeout_s=180)
    assert not result.missing, f"{len(result.missing)} not dead-lettered: {result.missing[:5]}"
    assert result.without_reason == 0, "a dead letter without a reason"
    assert not result.needs_missing, f"{result.needs_missing} valid alarms never became needs"
    assert worker.alive() and "tike_worker_up 1.0" in worker.metrics()
    print(f"fuzz: {result.sent} hostile records, all dead-lettered: {dict(result.reasons)}")
    assert result.reasons["personal_identity_code"] > 0 and result.reasons["oversize"] > 0


SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "default" / "sote-default.yaml"


async def test_api_activation_runs_the_rule_tests_as_the_cli_does(
    http: httpx.AsyncClient,
) -> None:
    """Activation through the API skipped the rule tests that `tike rules activate` runs:
    now the tests that come with the ruleset are run by the same code, refusing on failure."""
    text = (
        SHIPPED.read_text()
        .replace(
            "route: {service: safety_responder, priority: urgent,",
            "route: {service: mobile_nurse, priority: urgent,",
            1,
        )
        .replace('version: "2026.11.1"', 'version: "2026.11.1-broken"')
    )
    shipped_tests = SHIPPED.with_name("sote-default.tests.yaml").read_text()
    body = {"text": text, "comment": "moves falls to the nurse", "tests": shipped_tests}
    resp = await http.post("/api/rules/activate", json=body, headers=bearer("operator"))
    assert resp.status_code == 422, resp.text
    assert "rule tests fail" in resp.text and "a fall without injury" in resp.text
    broken = {**body, "tests": "cases: [1, 2"}  # tests that cannot be read refuse too
    resp = await http.post("/api/rules/activate", json=broken, headers=bearer("operator"))
    assert resp.status_code == 422 and "rule tests fail" in resp.text
    deep = "ruleset: x\nversion: '1'\nrules: " + "[" * 1000 + "]" * 1000
    resp = await http.post("/api/rules/validate", json={"text": deep}, headers=bearer("operator"))
    assert resp.status_code == 200 and resp.json()["valid"] is False
    assert "nesting is too deep" in resp.text


async def test_a_poisoned_rules_record_is_dead_lettered_and_the_ruleset_stays(
    broker: str, worker: Worker, send: Send
) -> None:
    """A deeply nested ruleset on tike.rules raised RecursionError in every worker, which
    never became ready again."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topics.DEADLETTER, p)
            for p in await partitions_of(broker, topics.DEADLETTER)
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        deep = "ruleset: x\nversion: '1'\nrules: " + "[" * 1000 + "]" * 1000
        record = {
            "ruleset": "x",
            "version": "1",
            "checksum": "c",
            "text": deep,
            "comment": "poison",
            "activated_by": "mallory",
            "activated_at": "2026-01-01T00:00:00+00:00",
        }
        await send(topics.RULES, record, key=b"x@1")
        letter = None
        deadline = time.monotonic() + 30
        while letter is None and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                for msg in msgs:
                    doc = orjson.loads(msg.value)
                    if doc["topic"] == topics.RULES:
                        letter = doc
        assert letter is not None, "the refused ruleset was not dead-lettered"
        assert letter["reason"] == "ruleset_refused" and "nesting is too deep" in letter["detail"]
        assert "sote-default" in letter["detail"]  # the ruleset in force stays
        assert worker.alive() and "tike_worker_up 1.0" in worker.metrics()
    finally:
        await consumer.stop()


async def test_reads_of_client_data_are_in_the_access_log(
    broker: str, gateway: Gateway, http: httpx.AsyncClient
) -> None:
    """Who (subject, role, token id), what, when and from where: REST reads and socket
    sessions, on tike.access."""
    who = {"Authorization": f"Bearer {issue(SECRET, 'control_room', 'dpo-check@example.fi')}"}
    assert (await http.get("/api/board", headers=who)).status_code == 200
    assert (await http.get("/api/needs/need-nothere", headers=who)).status_code == 404
    url = f"{gateway.ws_url}/ws/board?token={who['Authorization'][7:]}"
    async with connect(url, max_size=None) as ws:
        await ws.recv()

    async def logged() -> list[dict[str, Any]]:
        records = await read_partition(broker, topics.ACCESS, 0, 0)
        docs = [orjson.loads(raw) for raw, _, _ in records]
        mine = [d for d in docs if d["actor"] == "dpo-check@example.fi"]
        return mine if len(mine) >= 4 else []

    found = await eventually(logged)
    actions = [(d["action"], d["target"]) for d in found]
    assert ("board.read", "etela-pohjanmaa") in actions
    assert ("need.read", "need-nothere") in actions
    assert ("ws.open", "etela-pohjanmaa") in actions and ("ws.close", "etela-pohjanmaa") in actions
    for d in found:
        assert d["role"] == "control_room" and d["client"] == "127.0.0.1" and d["at"]
        assert d["token_id"] and "token=" not in str(d)
