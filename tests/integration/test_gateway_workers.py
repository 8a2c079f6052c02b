"""`tike gateway --workers 2` (TIKE_GATEWAY_WORKERS): two processes on one port, one
projector lease among them, and every socket gets the live changes whichever process took it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from gateway.store import LEASE
from tests.integration.conftest import Send
from tike import topics
from tike_cli.gateway_client import next_frame, notice, tag, token, until
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (not multiprocessing's resource tracker)."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return [c for c in out if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


async def test_two_worker_processes_share_one_port_and_one_projector(
    broker: str, redis_url: str, logs: Path, send: Send
) -> None:
    gw = Gateway.create(broker, redis_url, logs / "gateway-workers.log", TIKE_GATEWAY_WORKERS="2")
    gw.start()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        assert gw.child is not None
        for _ in range(100):
            workers = _workers(gw.child.proc.pid)
            if len(workers) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(workers) == 2, workers
        url = f"{gw.ws_url}/ws/board?token={token('control_room')}"
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(connect(url)) for _ in range(30)]
            for ws in sockets:
                assert (await next_frame(ws))["type"] == "snapshot"
            holders = set()
            for _ in range(8):  # the lease stays with one process (no flapping)
                holders.add(await redis.get(LEASE))
                await asyncio.sleep(0.4)
            assert len(holders) == 1 and None not in holders, holders
            probe = tag("workers")
            await send(topics.BOARD, notice(probe, 1, "workers"), key=b"etela-pohjanmaa")
            await asyncio.gather(*(until(ws, lambda f, i: i["id"] == probe) for ws in sockets))
        await send(
            topics.BOARD,
            {**notice(probe, 2, "workers"), "op": "remove", "data": None},
            key=b"etela-pohjanmaa",
        )
        assert _workers(gw.child.proc.pid) == workers  # neither process died meanwhile
    finally:
        await redis.aclose()
        gw.stop()
