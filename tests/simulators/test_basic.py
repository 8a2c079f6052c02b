from collections import Counter
from datetime import UTC, datetime

from simulators.basic import BasicSimulator
from tike.events import EventBase
from tike.regions import load_registry
from tike_core.decode import decode

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
REGION = load_registry().region("etela-pohjanmaa")


def _run(seed: int, seconds: float) -> list[tuple[float, str, bytes]]:
    sim = BasicSimulator(REGION, seed=seed, rate=1.0, start=START)
    return [
        (t, topic, e.model_dump_json().encode()) for t, (topic, _, e) in sim.events_until(seconds)
    ]


def test_same_seed_same_events() -> None:
    assert _run(7, 900) == _run(7, 900)
    assert _run(7, 900) != _run(8, 900)


def test_rates_match_the_region() -> None:
    sim = BasicSimulator(REGION, seed=3, rate=1.0, start=START)
    kinds: Counter[str] = Counter()
    for _, (_, _, event) in sim.events_until(6 * 3600):
        status = getattr(event, "status_code", None)
        kinds[status.value if status else event.kind] += 1
    devices = len(sim.devices)
    assert 1800 < devices < 2000  # about 1 per 100 inhabitants
    assert abs(kinds["heartbeat"] - devices * 72) <= devices  # every 5 min for 6 h
    calls = kinds["call_116117"] / 3  # three phases a call
    assert 10 <= calls <= 80  # about 6 an hour per 200k, with a diurnal curve
    assert 5 <= kinds["transport_request"] <= 45  # about 80 a day


def test_every_generated_event_is_valid_and_synthetic() -> None:
    kinds = {
        "tike.in.alarms": "safety_alarm",
        "tike.in.transports": "transport_request",
        "tike.in.calls116117": "call_116117",
        "tike.in.team-status": "team_status",
    }
    for _, topic, raw in _run(5, 1200):
        event = decode(raw, kinds[topic], 65536)
        assert isinstance(event, EventBase), event
        assert event.synthetic


def test_produced_events_carry_the_real_time_and_the_scenario_clock_apart() -> None:
    from datetime import timedelta

    from simulators.basic import stamp
    from tike.events import TransportRequest

    sim = BasicSimulator(REGION, seed=5, rate=20.0, start=START)
    real = START + timedelta(minutes=3)
    seen = set()
    for t, (_, _, event) in sim.events_until(3 * 3600):  # as with --time-scale 60
        produced = stamp(event, real)
        assert produced.occurred_at == real
        assert produced.scenario_time == START + timedelta(seconds=t)
        assert produced.event_id == event.event_id
        if isinstance(produced, TransportRequest):
            assert isinstance(event, TransportRequest)
            shift = real - event.occurred_at
            assert produced.pickup_window.earliest == event.pickup_window.earliest + shift
            assert produced.pickup_window.latest - produced.occurred_at == timedelta(hours=2)
        data = produced.model_dump_json().encode()
        assert decode(data, produced.kind, 65536) == produced  # type: ignore[attr-defined]
        seen.add(type(produced).__name__)
    assert {"SafetyAlarm", "TransportRequest", "Call116117", "TeamStatus"} <= seen
