"""The gateway recovers by itself: a Redis restart that loses every key, and a gateway restart
that clients resume across."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.integration.conftest import Send
from tike_cli.embedded import Child, free_port, redis_command, spawn, wait_port
from tike_cli.gateway_client import (
    fall_alarm,
    get,
    is_need,
    next_frame,
    tag,
    team_on_duty,
    token,
    until,
)
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


class RedisServer:
    """A Redis without persistence on a fixed port, so a restart comes back empty."""

    def __init__(self, logs: Path) -> None:
        self.port, self.logs = free_port(), logs
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with (self.logs / f"redis-{self.port}.log").open("ab") as log:
            self.child = spawn("redis", redis_command(self.port), log=log)
        assert wait_port(self.port, 20)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


@pytest.fixture(scope="module")
def redis_server(logs: Path) -> Iterator[RedisServer]:
    server = RedisServer(logs)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


async def test_redis_restart_is_rebuilt_from_kafka_without_a_gateway_restart(
    gateway: Gateway, redis_server: RedisServer, send: Send
) -> None:
    team = tag("sr")
    async with connect(f"{gateway.ws_url}/ws/board?token={token('control_room')}") as ws:
        first = await next_frame(ws)
        await team_on_duty(send, team, "010", lat=62.59)
        before = await fall_alarm(send, "010")
        await until(ws, is_need(before))
        redis_server.stop()
        redis_server.start()  # empty: no persistence
        # The same socket gets a snapshot of a new projection epoch, rebuilt from Kafka ...
        frame, _ = await until(
            ws,
            lambda f, i: f["epoch"] not in (None, first["epoch"]) and i.get("id") == before,
            timeout=30,
        )
        # ... and live changes again.
        after = await fall_alarm(send, "010")
        await until(ws, lambda f, i: i.get("id") == after and f["epoch"] == frame["epoch"])
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        health = (await http.get("/healthz")).json()
        assert health["redis"] is True and health["projection_epoch"] == frame["epoch"]
        board = await get(http, "/api/board", "control_room")
        ids = {i["id"] for i in board["items"] if i["entity"] == "need"}
        assert {before, after} <= ids


async def test_clients_resume_across_a_gateway_restart(gateway: Gateway, send: Send) -> None:
    url = f"{gateway.ws_url}/ws/board?token={token('control_room')}"
    team = tag("sr")
    await team_on_duty(send, team, "005", lat=63.0)
    async with connect(url) as ws:
        snap = await next_frame(ws)
        assert snap["type"] == "snapshot"
        epoch, seq = snap["epoch"], snap["seq"]
        missed = await fall_alarm(send, "005")
        frame, _ = await until(ws, is_need(missed))
        seq_before_missed = seq
    gateway.stop()
    gateway.start()
    # Resuming from before the need: the missed change comes as deltas, not a snapshot.
    async with connect(f"{url}&epoch={epoch}&seq={seq_before_missed}") as ws:
        resumed = await next_frame(ws)
        assert resumed["type"] == "deltas" and resumed["resumed"] is True
        assert missed in {i["id"] for i in resumed["items"]}
    # A position the stream cannot serve (from the future) gives a fresh snapshot.
    async with connect(f"{url}&epoch={epoch}&seq={frame['seq'] + 10_000}") as ws:
        assert (await next_frame(ws))["type"] == "snapshot"
    async with connect(f"{url}&epoch=not-this-one&seq=1") as ws:
        assert (await next_frame(ws))["type"] == "snapshot"
