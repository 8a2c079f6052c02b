from collections import Counter
from datetime import UTC, datetime

from simulators.basic import BasicSimulator
from tike.decode import decode
from tike.events import EventBase
from tike.regions import load_registry

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
