"""Events on the input topics, through the real worker, to the output topics."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import pytest_asyncio

from tike import topics
from tike.examples import example
from tike_cli.harness import Collector, Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _alarm(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(overrides)
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outputs(broker: str, worker: Worker) -> AsyncIterator[dict[str, Collector]]:
    names = [topics.NEEDS, topics.DEADLETTER, topics.DEVICE_HEALTH, topics.CALLS, topics.TEAM_STATE]
    collectors = {n: await Collector(broker, n).start() for n in names}
    yield collectors
    for c in collectors.values():
        await c.stop()


async def test_alarm_becomes_need_keyed_by_region(outputs, send, worker: Worker) -> None:  # type: ignore[no-untyped-def]
    alarm = _alarm()
    await send(topics.ALARMS, alarm, key=b"dev-x")
    rec = await outputs[topics.NEEDS].wait(lambda n: n["origin"]["event_id"] == alarm["event_id"])
    need = rec.json()
    assert rec.key == b"etela-pohjanmaa"
    assert need["source"] == "safety_alarm" and need["alarm_code"] == "fall_detected"
    assert need["municipality"] == "743" and need["region"] == "etela-pohjanmaa"
    assert need["origin"]["topic"] == topics.ALARMS and need["origin"]["offset"] is not None


async def test_garbage_goes_to_deadletter_and_worker_goes_on(outputs, send, worker: Worker) -> None:  # type: ignore[no-untyped-def]
    garbage = b"\xff\xfe garbage " + uuid.uuid4().hex.encode()
    await send(topics.ALARMS, garbage, key=b"junk")
    rec = await outputs[topics.DEADLETTER].wait(
        lambda d: d["value_b64"] and base64.b64decode(d["value_b64"]) == garbage
    )
    letter = rec.json()
    assert letter["reason"] == "not_json" and letter["topic"] == topics.ALARMS
    assert letter["offset"] is not None and letter["partition"] is not None
    assert rec.key == topics.ALARMS.encode()
    # The worker is alive and still turns valid events into needs.
    alarm = _alarm()
    await send(topics.ALARMS, alarm)
    await outputs[topics.NEEDS].wait(lambda n: n["origin"]["event_id"] == alarm["event_id"])
    assert worker.alive()
    assert worker.metric("tike_deadletter_total", reason="not_json") >= 1


@pytest.mark.parametrize(
    ("topic", "value", "reason"),
    [
        (topics.ALARMS, b"x" * 70000, "oversize"),
        (topics.ALARMS, b"[1,2,3]", "not_object"),
        (topics.TRANSPORTS, orjson.dumps(_alarm()), "unknown_kind"),
        (topics.ALARMS, orjson.dumps(_alarm(status_code="explosion")), "invalid_fields"),
        (topics.ALARMS, orjson.dumps(_alarm(device_id=None)), "invalid_fields"),
        (topics.ALARMS, orjson.dumps(_alarm(municipality="091")), "unknown_municipality"),
        (
            topics.CALLS_116117,
            orjson.dumps({"kind": "call_116117", "schema_version": 9}),
            "unsupported_version",
        ),
    ],
)
async def test_bad_input_is_dead_lettered_with_reason(
    outputs, send, topic: str, value: bytes, reason: str
) -> None:  # type: ignore[no-untyped-def]
    marker = uuid.uuid4().hex.encode()
    await send(topic, value, key=marker)
    rec = await outputs[topics.DEADLETTER].wait(
        lambda d: d["key_b64"] and base64.b64decode(d["key_b64"]) == marker
    )
    letter = rec.json()
    assert letter["reason"] == reason, letter["detail"]
    assert letter["topic"] == topic and letter["size"] == len(value)
    assert base64.b64decode(letter["value_b64"]) == value


async def test_an_alarm_dated_in_the_future_is_dead_lettered_not_a_need(
    outputs, send, worker: Worker
) -> None:  # type: ignore[no-untyped-def]
    """An alarm dated two days ahead (a source clock gone wrong) is refused as `future_time`
    (beyond TIKE_MAX_FUTURE_SKEW_S, 300 s by default) instead of becoming a need."""
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    alarm, marker = _alarm(occurred_at=ahead), _alarm()
    key = uuid.uuid4().hex.encode()
    for value in (alarm, marker):  # same key: same input partition, in order
        await send(topics.ALARMS, value, key=key)
    rec = await outputs[topics.DEADLETTER].wait(
        lambda d: d["key_b64"] and base64.b64decode(d["key_b64"]) == key
    )
    letter = rec.json()
    assert letter["reason"] == "future_time", letter
    assert "ahead of the worker's clock" in letter["detail"]
    assert orjson.loads(base64.b64decode(letter["value_b64"]))["event_id"] == alarm["event_id"]
    await outputs[topics.NEEDS].wait(lambda n: n["origin"]["event_id"] == marker["event_id"])
    assert not outputs[topics.NEEDS].matching(
        lambda n: n["origin"]["event_id"] == alarm["event_id"]
    )
    assert worker.metric("tike_deadletter_total", reason="future_time") >= 1


async def test_redelivered_event_creates_no_second_need(outputs, send) -> None:  # type: ignore[no-untyped-def]
    alarm, marker = _alarm(), _alarm()
    key = uuid.uuid4().hex.encode()
    for value in (alarm, alarm, marker):  # same key: same input partition, in order
        await send(topics.ALARMS, value, key=key)
    needs = outputs[topics.NEEDS]
    await needs.wait(lambda n: n["origin"]["event_id"] == marker["event_id"])
    assert len(needs.matching(lambda n: n["origin"]["event_id"] == alarm["event_id"])) == 1


async def test_resent_transport_request_is_one_need(outputs, send) -> None:  # type: ignore[no-untyped-def]
    first = orjson.loads(example("transport_request").model_dump_json())
    first["request_id"] = "tr-" + uuid.uuid4().hex[:12]
    again = {**first, "event_id": str(uuid.uuid4())}
    marker = {**first, "event_id": str(uuid.uuid4()), "request_id": first["request_id"] + "-m"}
    for value in (first, again, marker):  # same topic and key: processed in this order
        await send(topics.TRANSPORTS, value, key=b"same")
    needs = outputs[topics.NEEDS]
    await needs.wait(lambda n: n.get("transport_request_id") == marker["request_id"])
    assert len(needs.matching(lambda n: n.get("transport_request_id") == first["request_id"])) == 1


async def test_heartbeat_updates_device_health_and_creates_no_need(outputs, send) -> None:  # type: ignore[no-untyped-def]
    device = "dev-hb-" + uuid.uuid4().hex[:8]
    beat = _alarm(device_id=device, status_code="heartbeat")
    await send(topics.ALARMS, beat, key=device.encode())
    rec = await outputs[topics.DEVICE_HEALTH].wait(lambda h: h["device_id"] == device)
    assert rec.key == device.encode() and rec.json()["condition"] == "ok"
    low = _alarm(device_id=device, status_code="low_battery")
    help_alarm = _alarm(device_id=device, status_code="help_button")
    await send(topics.ALARMS, low, key=device.encode())
    await send(topics.ALARMS, help_alarm, key=device.encode())
    await outputs[topics.DEVICE_HEALTH].wait(
        lambda h: h["device_id"] == device and h["condition"] == "low_battery"
    )
    await outputs[topics.NEEDS].wait(lambda n: n["origin"]["event_id"] == help_alarm["event_id"])
    quiet_ids = {beat["event_id"], low["event_id"]}
    assert not outputs[topics.NEEDS].matching(lambda n: n["origin"]["event_id"] in quiet_ids)


async def test_silent_device_is_reported_as_need(outputs, send) -> None:  # type: ignore[no-untyped-def]
    device = "dev-quiet-" + uuid.uuid4().hex[:8]
    await send(
        topics.ALARMS, _alarm(device_id=device, status_code="heartbeat"), key=device.encode()
    )
    need = (
        await outputs[topics.NEEDS].wait(
            lambda n: n.get("device_id") == device and n["alarm_code"] == "device_silent",
            timeout=20,
        )
    ).json()
    assert need["source"] == "device_supervision"
    await outputs[topics.DEVICE_HEALTH].wait(
        lambda h: h["device_id"] == device and h["condition"] == "silent"
    )


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed-by-device", "other-key"])
async def test_a_device_is_supervised_whatever_the_alarm_key(outputs, send, worker, keyed) -> None:  # type: ignore[no-untyped-def]
    """Keyed by its device, an alarm is supervised in the ingest agent (its partition is the
    device's); with another key it goes through tike.devices.observations. Both see the
    low battery and the silence."""
    device = "dev-key-" + uuid.uuid4().hex[:8]
    path = "in_process" if keyed else "topic"
    before = worker.metric("tike_device_observations_total", path=path)
    key = device.encode() if keyed else b"receiver-7"
    for status in ("heartbeat", "low_battery"):
        await send(topics.ALARMS, _alarm(device_id=device, status_code=status), key=key)
    await outputs[topics.DEVICE_HEALTH].wait(
        lambda h: h["device_id"] == device and h["condition"] == "low_battery"
    )
    await outputs[topics.NEEDS].wait(
        lambda n: n.get("device_id") == device and n["alarm_code"] == "device_silent", timeout=20
    )
    assert worker.metric("tike_device_observations_total", path=path) >= before + 2


async def test_116117_call_is_counted_and_actionable_triage_is_a_need(outputs, send) -> None:  # type: ignore[no-untyped-def]
    call = orjson.loads(example("call_116117").model_dump_json())
    call["call_id"] = "call-" + uuid.uuid4().hex[:10]
    started = {
        **call,
        "event_id": str(uuid.uuid4()),
        "phase": "started",
        "urgency": None,
        "disposition": None,
    }
    await send(topics.CALLS_116117, started, key=call["call_id"].encode())
    await send(topics.CALLS_116117, call, key=call["call_id"].encode())
    calls = outputs[topics.CALLS]
    await calls.wait(lambda c: c["call_id"] == call["call_id"] and c["phase"] == "triaged")
    assert calls.matching(lambda c: c["call_id"] == call["call_id"] and c["phase"] == "started")
    need = (await outputs[topics.NEEDS].wait(lambda n: n.get("call_id") == call["call_id"])).json()
    assert need["disposition"] == "home_visit_needed" and need["urgency"] == "C"


async def test_team_status_becomes_team_state(outputs, send) -> None:  # type: ignore[no-untyped-def]
    team = orjson.loads(example("team_status").model_dump_json())
    team["team_id"] = "team-" + uuid.uuid4().hex[:8]
    await send(topics.TEAM_STATUS, team)
    rec = await outputs[topics.TEAM_STATE].wait(lambda t: t["team_id"] == team["team_id"])
    assert rec.key == b"etela-pohjanmaa" and rec.json()["status"] == "available"


async def test_third_party_librdkafka_client_is_understood(broker: str, outputs) -> None:  # type: ignore[no-untyped-def]
    confluent_kafka = pytest.importorskip("confluent_kafka")
    alarm = _alarm()
    prod = confluent_kafka.Producer({"bootstrap.servers": broker})
    prod.produce(topics.ALARMS, value=orjson.dumps(alarm), key=b"librdkafka")
    assert prod.flush(10) == 0
    await outputs[topics.NEEDS].wait(lambda n: n["origin"]["event_id"] == alarm["event_id"])
