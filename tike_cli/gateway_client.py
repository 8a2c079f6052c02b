"""Helpers for gateway integration tests: tokens, websocket frames, team and alarm events."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection

from gateway.auth import issue
from tike import topics
from tike.examples import example
from tike_cli.harness import SECRET

Frame = dict[str, Any]


def token(role: str, ttl_s: float = 3600) -> str:
    return issue(SECRET, role, "tester@example.fi", ttl_s=ttl_s)


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


def tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def next_frame(ws: ClientConnection, timeout: float = 10) -> Frame:
    frame: Frame = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def until(
    ws: ClientConnection, pred: Callable[[Frame, dict[str, Any]], bool], timeout: float = 15
) -> tuple[Frame, dict[str, Any]]:
    """Read frames until an item satisfies ``pred(frame, item)``; return both."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the expected item never came"
        frame = await next_frame(ws, left)
        for item in frame.get("items") or ():
            if pred(frame, item):
                return frame, item


def is_need(need_id: str, **data: Any) -> Callable[[Frame, dict[str, Any]], bool]:
    def pred(frame: Frame, item: dict[str, Any]) -> bool:
        d = item.get("data") or {}
        return (
            item.get("entity") == "need"
            and item.get("id") == need_id
            and all(d.get(k) == v for k, v in data.items())
        )

    return pred


def notice(entity_id: str, version: int = 1, text: str = "x") -> dict[str, Any]:
    """A control-room notice's board delta (BoardDelta JSON), as the worker would publish it."""
    return {
        "kind": "board_delta",
        "schema_version": 1,
        "region": "etela-pohjanmaa",
        "entity": "notice",
        "id": entity_id,
        "version": version,
        "op": "upsert",
        "at": "2026-11-23T12:00:00+00:00",
        "data": {"text": text},
    }


def responder(team_id: str, **fields: Any) -> dict[str, Any]:
    """A safety responder's status report (TeamStatus JSON): on duty, lifting, no shift;
    ``fields`` set the rest (location, coverage, capacity, ...)."""
    status: dict[str, Any] = orjson.loads(example("team_status").model_dump_json())
    status.update(team_id=team_id, team_type="safety_responder", skills=["lifting"], shift=None)
    status.update(fields)
    return status


async def team_on_duty(
    send: Any, team_id: str, municipality: str, lat: float = 62.8, known_at: str | None = None
) -> None:
    """Report a safety responder on duty. With ``known_at`` (a gateway URL), return only once
    the worker has applied the report (the team is on the board): a team report and an alarm
    travel on different topics, and the worker may apply them in either order, so an alarm
    sent right after the report can find no team."""
    status = responder(
        team_id, capacity=50, location={"lat": lat, "lon": 22.84}, coverage=[municipality]
    )
    await send(topics.TEAM_STATUS, status)
    if known_at is not None:
        await team_known(known_at, team_id)


async def team_known(gateway_url: str, team_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        while True:
            teams = await get(http, "/api/teams", "control_room")
            if any(t.get("team_id") == team_id for t in teams):
                return
            assert time.monotonic() < deadline, f"team {team_id} never reached the board"
            await asyncio.sleep(0.1)


async def fall_alarm(send: Any, municipality: str) -> str:
    """Send a fall alarm that routes to a safety responder; return its need id."""
    from tike.records import stable_id

    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(
        status_code="fall_detected",
        operator_assessment="no_injury",
        municipality=municipality,
        client_flags=[],
    )
    await send(topics.ALARMS, data)
    return stable_id("need", "alarm", data["event_id"])


async def get(client: httpx.AsyncClient, path: str, role: str, **params: Any) -> Any:
    resp = await client.get(path, headers=bearer(role), params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()
