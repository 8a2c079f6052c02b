"""The gateway against real uvicorn processes, Redis, the broker and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import Send
from tike import topics
from tike_cli.gateway_client import (
    bearer,
    fall_alarm,
    get,
    is_need,
    next_frame,
    notice,
    tag,
    team_on_duty,
    token,
    until,
)
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def gateway_extra() -> dict[str, str]:
    return {"TIKE_WS_SEND_TIMEOUT_S": "2", "TIKE_WS_AUTH_CHECK_S": "0.5"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def test_need_appears_on_the_board_within_a_second(gateway: Gateway, send: Send) -> None:
    team = tag("sr")
    async with connect(f"{gateway.ws_url}/ws/board?token={token('control_room')}") as ws:
        first = await next_frame(ws)
        assert first["type"] == "snapshot" and first["epoch"]
        await team_on_duty(send, team, "743")
        await until(ws, lambda f, i: i["entity"] == "team" and i["id"] == team)
        for _ in range(3):
            started = time.monotonic()
            need_id = await fall_alarm(send, "743")
            frame, item = await until(ws, is_need(need_id), timeout=5)
            took = time.monotonic() - started
            assert took < 1.0, f"need reached the board after {took:.3f} s"
            assert frame["type"] == "deltas" and frame["seq"] > first["seq"]
            assert item["version"] == 1 and item["data"]["team_id"] == team


async def test_team_accepts_on_its_socket_and_the_board_follows(
    gateway: Gateway, send: Send
) -> None:
    team = tag("sr")
    board_url = f"{gateway.ws_url}/ws/board?token={token('control_room')}"
    team_url = f"{gateway.ws_url}/ws/teams/{team}?token={token(f'team:{team}')}"
    async with connect(board_url) as board, connect(team_url) as phone:
        assert (await next_frame(phone))["type"] == "snapshot"
        await next_frame(board)
        await team_on_duty(send, team, "301", lat=62.62)
        await until(board, lambda f, i: i["entity"] == "team" and i["id"] == team)
        need_id = await fall_alarm(send, "301")
        _, offer = await until(phone, lambda f, i: i.get("need_id") == need_id)
        assert offer["status"] == "requested" and offer["team_id"] == team
        action = {
            "type": "action",
            "dispatch_id": offer["dispatch_id"],
            "action": "accept",
            "idempotency_key": "accept-1",
        }
        await phone.send(orjson.dumps(action).decode())
        ack = await next_frame(phone)
        while ack["type"] != "ack":
            ack = await next_frame(phone)
        assert ack["duplicate"] is False and ack["action"] == "accept"
        _, accepted = await until(board, is_need(need_id, phase="accepted"))
        assert accepted["data"]["owner"] == {"kind": "team", "team_id": team}
        _, update = await until(
            phone,
            lambda f, i: (
                i.get("dispatch_id") == offer["dispatch_id"] and i.get("status") == "accepted"
            ),
        )
        assert update["version"] > offer["version"]
        # The same idempotency key again: the first answer, nothing sent twice.
        await phone.send(orjson.dumps(action).decode())
        again = await next_frame(phone)
        while again["type"] != "ack":
            again = await next_frame(phone)
        assert again["duplicate"] is True and again["event_id"] == ack["event_id"]


async def test_a_second_gateway_serves_the_same_state(
    gateway: Gateway,
    broker: str,
    redis_url: str,
    logs: Path,
    send: Send,
    http: httpx.AsyncClient,
) -> None:
    other = Gateway.create(broker, redis_url, logs / "gateway-b.log").start()
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=10) as http_b:
            health_b = (await http_b.get("/healthz")).json()
            assert health_b["projector_active"] is False  # gateway A holds the lease
            assert (
                health_b["projection_epoch"]
                == (await http.get("/healthz")).json()["projection_epoch"]
            )
            url_b = f"{other.ws_url}/ws/board?token={token('control_room')}"
            async with connect(url_b) as ws_b:
                await next_frame(ws_b)
                team = tag("sr")
                await team_on_duty(send, team, "233", lat=63.1)
                need_id = await fall_alarm(send, "233")
                await until(ws_b, is_need(need_id))
            board_a = await get(http, "/api/board", "control_room")
            board_b = await get(http_b, "/api/board", "control_room")
            assert board_a["epoch"] == board_b["epoch"]
            ids_a = {(i["entity"], i["id"]) for i in board_a["items"]}
            ids_b = {(i["entity"], i["id"]) for i in board_b["items"]}
            assert ("need", need_id) in ids_a and ("need", need_id) in ids_b
    finally:
        other.stop()


async def test_a_slow_client_does_not_delay_a_fast_one(gateway: Gateway, send: Send) -> None:
    """Board deltas straight onto tike.board (the gateway's input), so that only the gateway
    is measured: a burst the slow client never reads, then one change the fast one must get
    within a second."""
    url = f"{gateway.ws_url}/ws/board?token={token('control_room')}"
    slow_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow_sock.connect(("127.0.0.1", int(gateway.url.rsplit(":", 1)[1])))
    burst = tag("burst")
    async with connect(url, sock=slow_sock, max_queue=1) as slow, connect(url) as fast:
        await next_frame(fast)
        await asyncio.gather(
            *(
                send(topics.BOARD, notice(f"{burst}-{i}", 1, "x" * 8000), key=b"etela-pohjanmaa")
                for i in range(600)
            )
        )
        await until(fast, lambda f, i: i["id"] == f"{burst}-599")
        started = time.monotonic()
        await send(topics.BOARD, notice(f"{burst}-probe", 1, "x" * 10), key=b"etela-pohjanmaa")
        await until(fast, lambda f, i: i["id"] == f"{burst}-probe", timeout=10)
        assert time.monotonic() - started < 1.0
        # The slow client was closed with 4408 for being slow, or got coalesced state:
        # never one frame per change.
        await asyncio.sleep(3)
        frames = 0
        try:
            while True:
                await asyncio.wait_for(slow.recv(), 2)
                frames += 1
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4408
        except TimeoutError:
            assert frames < 100, f"slow client got {frames} frames, not coalesced"
    removals = [{**notice(f"{burst}-{i}", 2), "op": "remove", "data": None} for i in range(600)]
    await asyncio.gather(*(send(topics.BOARD, r, key=b"etela-pohjanmaa") for r in removals))


async def test_team_tokens_see_only_their_own_team(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    mine, theirs = tag("t"), tag("t")
    url = f"{gateway.ws_url}/ws/teams/{theirs}?token={token(f'team:{mine}')}"
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    resp = await http.get(f"/api/teams/{theirs}/dispatches", headers=bearer(f"team:{mine}"))
    assert resp.status_code == 403 and resp.json()["error"] == "http_error"
    ok = await http.get(f"/api/teams/{mine}/dispatches", headers=bearer(f"team:{mine}"))
    assert ok.status_code == 200 and ok.json()["items"] == []
    board = f"{gateway.ws_url}/ws/board?token={token(f'team:{mine}')}"
    async with connect(board) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_expired_and_revoked_tokens_close_the_socket(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    async with connect(f"{gateway.ws_url}/ws/board?token=not-a-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    short = token("control_room", ttl_s=2)
    # The module's earlier tests leave a board snapshot near websockets' default 1 MiB limit;
    # what is tested here is the closing, so the client takes any size.
    async with connect(f"{gateway.ws_url}/ws/board?token={short}", max_size=None) as ws:
        assert (await next_frame(ws))["type"] == "snapshot"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await next_frame(ws, timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason == "token expired"
    victim = token("control_room")
    async with connect(f"{gateway.ws_url}/ws/board?token={victim}", max_size=None) as ws:
        await next_frame(ws)
        me = (await http.get("/api/me", headers={"Authorization": f"Bearer {victim}"})).json()
        resp = await http.post(
            "/api/tokens/revoke", headers=bearer("admin"), json={"jti": me["jti"], "exp": me["exp"]}
        )
        assert resp.status_code == 202
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await next_frame(ws, timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.reason == "token revoked"
    after = await http.get("/api/board", headers={"Authorization": f"Bearer {victim}"})
    assert after.status_code == 401


async def _command_calls(redis_url: str) -> dict[str, int]:
    """Redis's own count of calls, by command, since it started."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        stats: Any = await client.info("commandstats")
    finally:
        await client.aclose()
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def test_open_sockets_do_not_poll_redis_for_revocation(
    gateway: Gateway, redis_url: str
) -> None:
    """20 idle sockets for 2 s with TIKE_WS_AUTH_CHECK_S=0.5: the gateway process reloads the
    revoked token ids about 4 times (one Redis read each), and the sockets make no revocation
    call at all (each used to check Redis every 0.5 s: about 80 EXISTS here)."""
    url = f"{gateway.ws_url}/ws/board?token={token('control_room')}"
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(url)) for _ in range(20)]
        for ws in sockets:
            assert (await next_frame(ws))["type"] == "snapshot"
        before = await _command_calls(redis_url)
        await asyncio.sleep(2.0)
        after = await _command_calls(redis_url)
    assert after.get("exists", 0) - before.get("exists", 0) == 0
    reloads = after.get("zrangebyscore", 0) - before.get("zrangebyscore", 0)
    assert 2 <= reloads <= 6, reloads


async def test_a_revoked_token_closes_all_its_sockets_within_the_check_interval(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    victim = token("control_room")
    url = f"{gateway.ws_url}/ws/board?token={victim}"
    async with connect(url) as first, connect(url) as second:
        await next_frame(first)
        await next_frame(second)
        me = (await http.get("/api/me", headers={"Authorization": f"Bearer {victim}"})).json()
        resp = await http.post(
            "/api/tokens/revoke", headers=bearer("admin"), json={"jti": me["jti"], "exp": me["exp"]}
        )
        assert resp.status_code == 202
        revoked_at = time.monotonic()
        # A new socket is refused at once, before the process reloads the revoked ids.
        async with connect(url) as late:
            with pytest.raises(ConnectionClosed) as closed:
                await next_frame(late)
        assert closed.value.rcvd is not None and closed.value.rcvd.reason == "token revoked"
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await next_frame(ws, timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            assert closed.value.rcvd.reason == "token revoked"
        took = time.monotonic() - revoked_at
        assert took < 0.5 + 1.5, f"sockets closed {took:.2f} s after the revocation"


async def test_more_clients_than_redis_connections_wait_instead_of_being_refused(
    broker: str, redis_url: str, logs: Path, send: Send
) -> None:
    """A gateway with 2 shared Redis connections (set in the URL too, as the fan-out benchmark
    did: the pool the gateway used to have refused the third caller with "Too many
    connections", i.e. websocket close 1011 and 503) serves 40 sockets and 20 requests that
    arrive together, and its fan-out reaches them all."""
    small = Gateway.create(
        broker,
        f"{redis_url}?max_connections=2",
        logs / "gateway-pool.log",
        TIKE_REDIS_MAX_CONNECTIONS="2",
    ).start()
    url = f"{small.ws_url}/ws/board?token={token('control_room')}"
    try:
        async with (
            contextlib.AsyncExitStack() as stack,
            httpx.AsyncClient(base_url=small.url, timeout=20) as http_small,
        ):
            sockets = await asyncio.gather(
                *(stack.enter_async_context(connect(url)) for _ in range(40))
            )
            frames, responses = await asyncio.gather(
                asyncio.gather(*(next_frame(ws, timeout=20) for ws in sockets)),
                asyncio.gather(
                    *(
                        http_small.get("/api/board", headers=bearer("control_room"))
                        for _ in range(20)
                    )
                ),
            )
            assert [f["type"] for f in frames] == ["snapshot"] * 40
            assert [r.status_code for r in responses] == [200] * 20
            probe = tag("pool")
            await send(topics.BOARD, notice(probe, 1, "x" * 10), key=b"etela-pohjanmaa")
            await asyncio.gather(*(until(ws, lambda f, i: i["id"] == probe) for ws in sockets))
        await send(
            topics.BOARD,
            {**notice(probe, 2), "op": "remove", "data": None},
            key=b"etela-pohjanmaa",
        )
    finally:
        small.stop()
    assert "Too many connections" not in small.log_path.read_text()


async def test_rules_api_validates_dry_runs_and_activates_for_operators_only(
    http: httpx.AsyncClient,
) -> None:
    current = await get(http, "/api/rules", "operator")
    assert current["label"].startswith("sote-default@") and current["rules"] > 5
    text = current["text"]
    broken = text.replace("rules:\n", "rules:\n  - id: broken\n    when: {no_such_field: 1}\n", 1)
    line = text[: text.index("rules:\n")].count("\n") + 2
    resp = await http.post("/api/rules/validate", json={"text": broken}, headers=bearer("operator"))
    report = resp.json()
    assert resp.status_code == 200 and report["valid"] is False
    assert any(e["line"] >= line and e["rule_id"] == "broken" for e in report["errors"])
    candidate = text.replace(f'version: "{current["label"].split("@")[1]}"', 'version: "9.9.9"')
    ok = await http.post(
        "/api/rules/validate", json={"text": candidate}, headers=bearer("operator")
    )
    assert ok.json()["valid"] is True and ok.json()["label"] == "sote-default@9.9.9"
    dry = await http.post(
        "/api/rules/dry-run", json={"text": candidate, "since_hours": 1}, headers=bearer("operator")
    )
    assert dry.status_code == 200 and dry.json()["candidate"] == "sote-default@9.9.9"
    assert dry.json()["changed"] == 0  # same rules, new version
    body = {"text": candidate, "comment": "version bump"}
    refused = await http.post("/api/rules/activate", json=body, headers=bearer("control_room"))
    assert refused.status_code == 403
    bad = await http.post(
        "/api/rules/activate", json={"text": broken, "comment": "x"}, headers=bearer("operator")
    )
    assert bad.status_code == 422 and bad.json()["detail"]["errors"]
    done = await http.post("/api/rules/activate", json=body, headers=bearer("operator"))
    assert done.status_code == 201 and done.json()["label"] == "sote-default@9.9.9"
    history = (await get(http, "/api/rules", "operator"))["history"]
    assert history[-1]["label"] == "sote-default@9.9.9" and history[-1]["active"] is True
    assert history[-1]["activated_by"] == "tester@example.fi"  # the token's subject
    assert history[-1]["comment"] == "version bump"
    # Put the shipped version back for the other tests.
    back = {"text": text, "comment": "restore"}
    assert (
        await http.post("/api/rules/activate", json=back, headers=bearer("operator"))
    ).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        audit = await get(http, "/api/audit", "operator", limit=10)
        found = [
            a
            for a in audit
            if a["action"] == "rules.activate" and a["after"]["label"] == "sote-default@9.9.9"
        ]
        if found or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert found and found[0]["actor"] == "tester@example.fi" and found[0]["before"]["label"]


async def test_control_room_closes_a_need_with_a_reason_and_it_is_audited(
    gateway: Gateway, http: httpx.AsyncClient, send: Send
) -> None:
    team = tag("sr")
    await team_on_duty(send, team, "152", lat=63.0)
    async with connect(f"{gateway.ws_url}/ws/board?token={token('control_room')}") as ws:
        await next_frame(ws)
        need_id = await fall_alarm(send, "152")
        await until(ws, is_need(need_id))
        path = f"/api/needs/{need_id}/actions"
        body = {"command": "close", "reason": "client phoned: false alarm", "outcome": "no_need"}
        denied = await http.post(path, json=body, headers=bearer(f"team:{team}"))
        assert denied.status_code == 403
        headers = {**bearer("control_room"), "Idempotency-Key": f"close-{need_id}"}
        resp = await http.post(path, json=body, headers=headers)
        assert resp.status_code == 202, resp.text
        again = await http.post(path, json=body, headers=headers)
        assert again.json()["duplicate"] is True
        _, closed = await until(ws, is_need(need_id, status="closed"))
        assert closed["data"]["outcome"] == "no_need"
    closed_needs = await get(http, "/api/needs", "control_room", status="closed")
    assert need_id in {n["need_id"] for n in closed_needs}
    open_needs = await get(http, "/api/needs", "control_room")
    assert need_id not in {n["need_id"] for n in open_needs}
    assert team in {t["team_id"] for t in await get(http, "/api/teams", "control_room")}
    deadline = time.monotonic() + 10  # KPIs follow the close on the worker's next tick
    while True:
        kpi = (await get(http, "/api/kpis", "control_room")).get("etela-pohjanmaa:152")
        if kpi is not None and kpi["24h"]["closed"] >= 1:
            break
        assert time.monotonic() < deadline, kpi
        await asyncio.sleep(0.2)
    audit = await get(http, "/api/audit", "control_room", limit=50)
    mine = [a for a in audit if a["target"] == need_id]
    assert len(mine) == 1 and mine[0]["action"] == "need.close"
    assert mine[0]["before"]["status"] == "open" and mine[0]["after"]["reason"] == body["reason"]


async def test_bad_requests_get_clear_json_errors(http: httpx.AsyncClient) -> None:
    headers = {**bearer("operator"), "Content-Type": "application/json"}
    malformed = await http.post("/api/rules/validate", content=b"{not json", headers=headers)
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_request"
    huge = await http.post("/api/rules/validate", content=b"x" * (2 << 20), headers=headers)
    assert huge.status_code == 413 and huge.json()["error"] == "payload_too_large"
    unknown = await http.get("/api/needs/need-nope", headers=bearer("control_room"))
    assert unknown.status_code == 404 and "need-nope" in unknown.json()["detail"]
    wrong = await http.post(
        "/api/needs/need-nope/actions", json={"command": "fly"}, headers=bearer("control_room")
    )
    assert wrong.status_code == 422


async def test_metrics_cover_the_gateway(http: httpx.AsyncClient) -> None:
    text = (await http.get("/metrics")).text
    for name in (
        'tike_gateway_events_in_total{topic="tike.board"}',
        "tike_gateway_e2e_latency_seconds_count",
        "tike_gateway_ws_clients",
        "tike_gateway_queue_drops_total",
        "tike_gateway_consumer_lag",
        "tike_gateway_decision_latency_seconds_count",
        "tike_gateway_projector_active 1.0",
    ):
        assert name in text, name
    e2e = [
        line
        for line in text.splitlines()
        if line.startswith("tike_gateway_e2e_latency_seconds_count")
    ]
    assert float(e2e[0].split()[-1]) >= 1
