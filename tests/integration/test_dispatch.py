"""The dispatch lifecycle on the real broker and worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tike import topics
from tike.examples import example
from tike_cli.gateway_client import responder
from tike_cli.harness import Collector, Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")
REGION = "etela-pohjanmaa"


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    return {"TIKE_OFFER_TIMEOUT_URGENT_S": "3", "TIKE_TICK_INTERVAL_S": "0.3"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def out(broker: str, worker: Worker) -> AsyncIterator[dict[str, Collector]]:
    collectors = {t: await Collector(broker, t).start() for t in (topics.DISPATCHES, topics.BOARD)}
    yield collectors
    for c in collectors.values():
        await c.stop()


async def teams(send: Any, municipality: str, *spec: tuple[str, float]) -> None:
    for team_id, lat in spec:
        status = responder(team_id, location={"lat": lat, "lon": 22.84}, coverage=[municipality])
        await send(topics.TEAM_STATUS, status)


async def alarm(send: Any, municipality: str) -> dict[str, Any]:
    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(
        status_code="fall_detected",
        operator_assessment="no_injury",
        municipality=municipality,
        client_flags=[],
    )
    await send(topics.ALARMS, data)
    return data


async def act(send: Any, dispatch: dict[str, Any], team_id: str, action: str, **kw: Any) -> None:
    ev = orjson.loads(example("safety_alarm").model_dump_json())  # for a fresh id and time
    await send(
        topics.TEAM_EVENTS,
        {
            "kind": "team_event",
            "event_id": ev["event_id"],
            "occurred_at": ev["occurred_at"],
            "source": "team-app",
            "team_id": team_id,
            "dispatch_id": dispatch["dispatch_id"],
            "region": REGION,
            "action": action,
            **kw,
        },
        key=team_id.encode(),
    )


def ids(prefix: str) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"{prefix}-a-{tag}", f"{prefix}-b-{tag}"


async def test_offered_declined_reoffered_and_escalated_on_timeout(out, send) -> None:  # type: ignore[no-untyped-def]
    a, b = ids("sr")
    await teams(send, "301", (a, 62.62), (b, 62.50))
    await out[topics.BOARD].wait(lambda d: d["entity"] == "team" and d["id"] == b)
    await alarm(send, "301")
    first = (await out[topics.DISPATCHES].wait(lambda d: d.get("team_id") == a)).json()
    assert first["status"] == "requested" and first["priority"] == "urgent"
    await act(send, first, a, "decline", reason="lifting someone else")
    second = (
        await out[topics.DISPATCHES].wait(
            lambda d: d.get("team_id") == b and d["need_id"] == first["need_id"]
        )
    ).json()
    assert second["dispatch_id"] != first["dispatch_id"] and second["status"] == "requested"
    # Nobody answers b's offer: after its 3 s time-out the control room gets the need.
    escalated = (
        await out[topics.BOARD].wait(
            lambda d: (
                d["entity"] == "need"
                and d["id"] == first["need_id"]
                and d["data"]["phase"] == "escalated"
            ),
            timeout=20,
        )
    ).json()["data"]
    assert escalated["owner"] == {"kind": "control_room", "team_id": None}
    assert escalated["alert"]["reason"].startswith("no eligible team")
    events = [e[1] for e in escalated["timeline"]]
    assert events == ["received", "offered", "declined", "offered", "offer expired", "escalated"]
    cancelled = await out[topics.DISPATCHES].wait(
        lambda d: d.get("dispatch_id") == second["dispatch_id"] and d["status"] == "cancelled"
    )
    assert cancelled.json()["reason"] == "offer expired"


async def test_accept_to_completion_is_reflected_in_board_and_kpis(out, send, worker) -> None:  # type: ignore[no-untyped-def]
    a, _ = ids("sr")
    await teams(send, "233", (a, 63.10))
    await out[topics.BOARD].wait(lambda d: d["entity"] == "team" and d["id"] == a)
    await alarm(send, "233")
    offer = (await out[topics.DISPATCHES].wait(lambda d: d.get("team_id") == a)).json()
    for action in ("accept", "en_route", "on_site"):
        await act(send, offer, a, action)
    on_site = await out[topics.BOARD].wait(
        lambda d: d["entity"] == "team" and d["id"] == a and d["data"]["status"] == "on_site"
    )
    assert on_site.json()["data"]["need_id"] == offer["need_id"]
    await act(send, offer, a, "complete", outcome="resolved_at_home")
    done = (
        await out[topics.BOARD].wait(
            lambda d: (
                d["entity"] == "need"
                and d["id"] == offer["need_id"]
                and d["data"]["phase"] == "completed"
            )
        )
    ).json()["data"]
    assert done["outcome"] == "resolved_at_home" and done["status"] == "closed"
    await out[topics.BOARD].wait(
        lambda d: d["entity"] == "team" and d["id"] == a and d["data"]["status"] == "available"
    )
    kpi = (
        await out[topics.BOARD].wait(
            lambda d: (
                d["entity"] == "kpi"
                and d["id"] == f"{REGION}:233"
                and d["data"]["24h"]["resolved_at_home"] >= 1
            )
        )
    ).json()["data"]
    assert kpi["1h"]["offer_to_accept"]["n"] >= 1 and kpi["1h"]["accept_to_on_site"]["n"] >= 1
    assert kpi["24h"]["by_source"]["safety_alarm"] >= 1 and kpi["open"] == 0
    # The region's KPIs are Prometheus gauges too (the Grafana dashboard's KPI row).
    at_home = {"kpi": "resolved_at_home", "region": REGION, "window": "24h"}  # label order
    deadline = asyncio.get_running_loop().time() + 10
    while worker.metric("tike_situation_kpi", **at_home) < 1:
        assert asyncio.get_running_loop().time() < deadline, "KPI gauge not set"
        await asyncio.sleep(0.2)
    region_kpi = out[topics.BOARD].matching(lambda d: d["entity"] == "kpi" and d["id"] == REGION)
    open_now = region_kpi[-1]["data"]["open"]
    assert worker.metric("tike_situation_open_needs", region=REGION) == open_now
    assert (
        worker.metric("tike_situation_needs", region=REGION, source="safety_alarm", window="24h")
        >= 1
    )
    records = out[topics.DISPATCHES].matching(
        lambda d: d.get("dispatch_id") == offer["dispatch_id"]
    )
    statuses = [d["status"] for d in records if d["kind"] == "dispatch"]
    assert not out[topics.DISPATCHES].matching(
        lambda d: d.get("dispatch_id") == offer["dispatch_id"] and d["kind"] == "dispatch_refusal"
    )
    assert statuses == ["requested", "accepted", "in-progress", "in-progress", "completed"]


async def test_illegal_transitions_are_refused(out, send) -> None:  # type: ignore[no-untyped-def]
    a, b = ids("sr")
    await teams(send, "408", (a, 62.97), (b, 62.90))
    await out[topics.BOARD].wait(lambda d: d["entity"] == "team" and d["id"] == b)
    await alarm(send, "408")
    offer = (await out[topics.DISPATCHES].wait(lambda d: d.get("team_id") == a)).json()
    await act(send, offer, a, "on_site")
    await act(send, offer, b, "accept")
    await act(send, offer, a, "complete")
    refusals = out[topics.DISPATCHES]
    for team_id, why in (
        (a, "cannot on_site a dispatch that is requested"),
        (b, f"team {b} does not own dispatch"),
        (a, "cannot complete a dispatch that is requested"),
    ):
        await refusals.wait(
            lambda d, t=team_id, w=why: (
                d["kind"] == "dispatch_refusal" and d["team_id"] == t and w in d["reason"]
            )
        )
    await act(send, offer, a, "accept")
    accepted = await out[topics.DISPATCHES].wait(
        lambda d: d.get("dispatch_id") == offer["dispatch_id"] and d.get("status") == "accepted"
    )
    assert accepted.json()["version"] == 2  # the refused actions changed nothing
