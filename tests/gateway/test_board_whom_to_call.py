"""A need's client or device id is on the board entry, for the roles that watch the board only;
a control action's 202 says accepted for processing, and a refusal comes back as a notice
placed at its need. Against the real broker, worker and gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration import conftest as integration
from tests.integration.conftest import Send
from tike import topics
from tike.examples import example
from tike.records import stable_id
from tike_cli.gateway_client import (
    bearer,
    get,
    is_need,
    next_frame,
    tag,
    team_on_duty,
    token,
    until,
)
from tike_cli.harness import Gateway

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# The integration tests' fixtures: this module's own broker, Redis, worker and gateway.
logs, broker, redis_url, send = (
    integration.logs,
    integration.broker,
    integration.redis_url,
    integration.send,
)
worker, worker_extra = integration.worker, integration.worker_extra
gateway, gateway_extra = integration.gateway, integration.gateway_extra


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def _alarm(send: Send, municipality: str, client: str, device: str) -> str:
    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(
        status_code="fall_detected",
        operator_assessment="no_injury",
        client=client,
        device_id=device,
        municipality=municipality,
        client_flags=[],
    )
    await send(topics.ALARMS, data)
    return stable_id("need", "alarm", data["event_id"])


async def test_a_needs_client_and_device_id_are_on_the_board_entry(
    gateway: Gateway, http: httpx.AsyncClient, send: Send
) -> None:
    team = tag("sr")
    await team_on_duty(send, team, "743")
    client, device = f"as-{tag('c')}", f"dev-{tag('d')}"
    async with connect(f"{gateway.ws_url}/ws/board?token={token('control_room')}") as ws:
        await next_frame(ws)
        need_id = await _alarm(send, "743", client, device)
        _, item = await until(ws, is_need(need_id))
    delta = item["data"]
    assert delta["client"] == client and delta["device_id"] == device
    assert delta["call_id"] is None and delta["transport_request_id"] is None
    for role in ("control_room", "operator", "admin"):  # the roles that watch the board
        entry = (await get(http, f"/api/needs/{need_id}", role))["data"]
        assert entry["client"] == client and entry["device_id"] == device
    # A team token reads no board entry, by REST or socket: only its own dispatches.
    denied = await http.get(f"/api/needs/{need_id}", headers=bearer(f"team:{team}"))
    assert denied.status_code == 403 and client not in denied.text
    listed = await http.get("/api/needs", headers=bearer(f"team:{team}"))
    assert listed.status_code == 403 and client not in listed.text
    async with connect(f"{gateway.ws_url}/ws/board?token={token(f'team:{team}')}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_control_actions_are_accepted_for_processing_and_refusals_come_back(
    gateway: Gateway, http: httpx.AsyncClient, send: Send
) -> None:
    need_id = await _alarm(send, "759", f"as-{tag('c')}", f"dev-{tag('d')}")  # no team: escalated
    path = f"/api/needs/{need_id}/actions"
    async with connect(f"{gateway.ws_url}/ws/board?token={token('control_room')}") as ws:
        await next_frame(ws)
        await until(ws, is_need(need_id, phase="escalated"))
        # Acknowledge needs no reason, and records none.
        ack = await http.post(path, json={"command": "acknowledge"}, headers=bearer("control_room"))
        assert ack.status_code == 202, ack.text
        assert ack.json()["status"] == "accepted"
        assert "accepted for processing" in ack.json()["detail"]
        _, acked = await until(
            ws, lambda f, i: is_need(need_id)(f, i) and bool(i["data"]["alert"]["acknowledged_by"])
        )
        assert acked["data"]["timeline"][-1][1:] == [
            "acknowledged",
            "tester@example.fi (control_room)",
        ]
        # Close still needs a reason.
        bare = await http.post(path, json={"command": "close"}, headers=bearer("control_room"))
        assert bare.status_code == 422
        body = {"command": "close", "reason": "handled by phone", "outcome": "no_need"}
        first = await http.post(path, json=body, headers=bearer("control_room"))
        assert first.status_code == 202 and first.json()["status"] == "accepted"
        await until(ws, is_need(need_id, status="closed"))
        again = await http.post(path, json=body, headers=bearer("control_room"))
        assert again.status_code == 202 and again.json()["status"] == "accepted"
        _, notice = await until(
            ws, lambda f, i: i["entity"] == "notice" and i["data"].get("need_id") == need_id
        )
    data = notice["data"]
    assert data["command"] == "close"
    assert data["actor"] == "tester@example.fi (control_room)"
    assert "already closed" in data["message"] and data["level"] == "error"
