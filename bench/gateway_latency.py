"""End-to-end latency to the control room: an alarm produced to tike.in.alarms until its need
arrives on a `/ws/board` websocket, through worker, projector, Redis and fan-out. Then the
same for a fast client while a slow one (never reads, 4 KiB receive buffer) is connected and a
burst of large board deltas is pushed.

    .venv/bin/python bench/gateway_latency.py [--events 200] [--clients 20]

Starts its own broker, Redis, worker and gateway (embedded profile) and prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tike import topics
from tike_cli.gateway_client import fall_alarm, next_frame, team_on_duty, token
from tike_cli.harness import Gateway, producer, worker_stack


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": _pct(values, 0.5),
        "p90": _pct(values, 0.9),
        "p99": _pct(values, 0.99),
        "max": round(max(values), 1),
        "n": len(values),
    }


async def _wait(ws: ClientConnection, want: str) -> float:
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if any(i.get("id") == want for i in frame.get("items") or ()):
            return time.monotonic()


async def measure(gw: Gateway, broker: str, events: int, clients: int) -> dict[str, Any]:
    prod = await producer(broker)

    async def send(topic: str, value: Any, key: bytes | None = None) -> None:
        await prod.send_and_wait(topic, orjson.dumps(value), key=key)

    url = f"{gw.ws_url}/ws/board?token={token('control_room')}"
    watchers = [await connect(url) for _ in range(clients)]
    for ws in watchers:
        await next_frame(ws)
    for i in range(4):
        await team_on_duty(send, f"bench-team-{i}", "743", lat=62.7 + i / 100)
    ws = watchers[0]
    first_started = time.monotonic()
    first = await fall_alarm(send, "743")
    first_ms = (await _wait(ws, first) - first_started) * 1000
    paced = []
    for _ in range(events):
        started = time.monotonic()
        need_id = await fall_alarm(send, "743")
        paced.append((await _wait(ws, need_id) - started) * 1000)
        await asyncio.sleep(0.05)
    # A slow client and a burst straight onto tike.board, then a probe for the fast client.
    slow_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow_sock.connect(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])))
    slow = await connect(url, sock=slow_sock, max_queue=1)
    burst = [
        {
            "kind": "board_delta",
            "schema_version": 1,
            "region": "etela-pohjanmaa",
            "entity": "notice",
            "id": f"bench-burst-{i}",
            "version": 1,
            "op": "upsert",
            "at": "2026-11-23T12:00:00+00:00",
            "data": {"text": "x" * 8000},
        }
        for i in range(1000)
    ]
    under_load = []
    for i, delta in enumerate(burst):
        await prod.send(topics.BOARD, orjson.dumps(delta), key=b"etela-pohjanmaa")
        if i % 100 == 99:
            probe = {**delta, "id": f"bench-probe-{i}", "data": {"text": "probe"}}
            started = time.monotonic()
            await prod.send_and_wait(topics.BOARD, orjson.dumps(probe), key=b"etela-pohjanmaa")
            under_load.append((await _wait(ws, probe["id"]) - started) * 1000)
    await asyncio.sleep(3)
    slow_state = "open"
    try:
        await asyncio.wait_for(slow.recv(), 5)
        slow_state = "coalesced frames"
    except Exception as exc:  # closed (4408) is the other documented outcome
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        slow_state = f"closed {code}" if code else type(exc).__name__
    for w in [*watchers, slow]:
        await w.close()
    await prod.stop()
    return {
        "clients": clients,
        "first_alarm_to_ws_ms": round(first_ms, 1),
        "alarm_to_ws_ms": _summary(paced),
        "fast_client_probe_ms_during_burst": _summary(under_load),
        "slow_client": slow_state,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="tike-bench-"))
    with worker_stack(logs) as (broker, redis, _):
        gw = Gateway.create(broker, redis, logs / "gateway.log", TIKE_WS_SEND_TIMEOUT_S="2")
        try:
            gw.start()
            result = asyncio.run(measure(gw, broker, args.events, args.clients))
            print(json.dumps(result, indent=2))
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
