from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson

from simulators.responders import Behaviour, Responders, plan, team_event
from tike_core.situation import published as R


def dispatch(i: int = 1, team: str = "sim-safety-responder-1", **need: Any) -> dict[str, Any]:
    return {
        "kind": "dispatch",
        "dispatch_id": f"dsp-{i}",
        "team_id": team,
        "status": "requested",
        "region": "etela-pohjanmaa",
        "offered_at": datetime.now(UTC).isoformat(),
        "version": 1,
        "need": {"location": {"lat": 62.79, "lon": 22.84}, **need},
    }


def test_plan_is_deterministic_and_every_step_is_a_legal_transition() -> None:
    for i in range(200):
        steps = plan(dispatch(i), (62.6, 22.4), seed=7)
        assert steps == plan(dispatch(i), (62.6, 22.4), seed=7)
        status, business = R.REQUESTED, None
        times = [s.after_s for s in steps]
        assert times == sorted(times)
        for step in steps:
            assert R.illegal(step.action, status, business) is None, (step, status, business)
            status, business = {
                "received": (R.RECEIVED, None),
                "accept": (R.ACCEPTED, None),
                "decline": (R.REJECTED, None),
                "en_route": (R.IN_PROGRESS, "en-route"),
                "on_site": (R.IN_PROGRESS, "on-site"),
                "complete": (R.COMPLETED, "on-site"),
            }[step.action]
        assert steps[-1].action in ("decline", "complete")
        if steps[-1].action == "complete":
            assert steps[-1].outcome is not None


def test_some_decline_and_distance_sets_the_drive() -> None:
    plans = [plan(dispatch(i), (62.79, 22.84), seed=1) for i in range(1000)]
    declined = sum(1 for p in plans if p[-1].action == "decline")
    assert 40 <= declined <= 130  # about 8 %
    sure = Behaviour(decline_p=0.0, received_s=(1, 1), accept_s=(1, 1), depart_s=(1, 1))
    near = {s.action: s.after_s for s in plan(dispatch(), (62.79, 22.84), 1, sure)}
    far = {s.action: s.after_s for s in plan(dispatch(), (63.37, 23.48), 1, sure)}
    drive_near = near["on_site"] - near["en_route"]
    drive_far = far["on_site"] - far["en_route"]
    assert drive_near < 60 and 60 * 60 < drive_far < 100 * 60  # ~75 km by road at 60 km/h


def test_team_event_is_a_valid_synthetic_contract() -> None:
    step = plan(dispatch(), None, seed=3)[0]
    ev = team_event(dispatch(), step, datetime.now(UTC))
    assert ev.synthetic and ev.action.value == step.action and ev.team_id.startswith("sim-")
    assert ev.event_id == team_event(dispatch(), step, datetime.now(UTC)).event_id


async def test_only_simulated_teams_are_played_and_cancelled_offers_stop() -> None:
    responders = Responders("unused:9092", [], seed=1, time_scale=1.0)
    started = datetime.now(UTC)
    real = orjson.dumps(dispatch(1, team="mobile-nurse-1"))
    responders.on_record(real, producer=None, started=started)
    assert responders.tasks == {}
    responders.on_record(orjson.dumps(dispatch(2)), producer=None, started=started)
    task = responders.tasks["dsp-2"]
    responders.on_record(orjson.dumps({**dispatch(2), "status": "cancelled"}), None, started)
    await asyncio.sleep(0)
    assert task.cancelled() or task.cancelling()
    responders.on_record(b"not json", None, started)  # ignored, never raises
