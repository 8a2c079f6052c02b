from datetime import UTC, datetime, timedelta

from tike import topics
from tike.events import AlarmStatus
from tike.records import DeviceCondition, DeviceHealth, DeviceObservation, UnplannedNeed
from tike_core.devices import is_overdue, observe, silence_check, worth_writing

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=15)


def obs(status: str, at: datetime, device: str = "dev-1") -> DeviceObservation:
    return DeviceObservation(
        device_id=device,
        controller_id="ctrl-1",
        observed=status,  # type: ignore[arg-type]
        observed_at=at,
        region="etela-pohjanmaa",
        municipality="743",
        client="client-abc",
    )


def test_first_heartbeat_registers_device_as_ok() -> None:
    result = observe(None, obs("heartbeat", T0), T0, TIMEOUT)
    assert result.state["last_seen"] == T0.isoformat()
    (emit,) = result.emits
    assert emit.topic == topics.DEVICE_HEALTH
    assert isinstance(emit.record, DeviceHealth) and emit.record.condition is DeviceCondition.OK


def test_unchanged_condition_emits_nothing() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    again = observe(state, obs("heartbeat", T0 + timedelta(minutes=5)), T0, TIMEOUT)
    assert again.emits == []
    assert again.state["last_seen"] == (T0 + timedelta(minutes=5)).isoformat()


def test_late_out_of_order_observation_does_not_move_last_seen_back() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    state = observe(state, obs("heartbeat", T0 - timedelta(minutes=4)), T0, TIMEOUT).state
    assert state["last_seen"] == T0.isoformat()


def test_low_battery_and_fault_change_condition_and_heartbeat_clears() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    low = observe(state, obs(AlarmStatus.LOW_BATTERY, T0), T0, TIMEOUT)
    assert low.emits[0].record.condition is DeviceCondition.LOW_BATTERY  # type: ignore[attr-defined]
    fault = observe(low.state, obs(AlarmStatus.TECHNICAL_FAULT, T0), T0, TIMEOUT)
    assert fault.emits[0].record.condition is DeviceCondition.FAULT  # type: ignore[attr-defined]
    ok = observe(fault.state, obs("heartbeat", T0 + timedelta(minutes=5)), T0, TIMEOUT)
    assert ok.emits[0].record.condition is DeviceCondition.OK  # type: ignore[attr-defined]


def test_silent_device_is_reported_once_as_need() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    before = T0 + TIMEOUT - timedelta(seconds=1)
    assert not is_overdue(state, before, TIMEOUT)
    later = T0 + TIMEOUT + timedelta(seconds=1)
    assert is_overdue(state, later, TIMEOUT)
    result = observe(state, silence_check(state, later), later, TIMEOUT)
    topics_emitted = [e.topic for e in result.emits]
    assert topics_emitted == [topics.DEVICE_HEALTH, topics.INTAKE]
    need = result.emits[1].record
    assert isinstance(need, UnplannedNeed)
    assert need.alarm_code == "device_silent" and need.device_id == "dev-1"
    assert need.client == "client-abc"
    # Reported once: the device is no longer overdue, and a second check does nothing.
    assert not is_overdue(result.state, later + TIMEOUT, TIMEOUT)
    assert observe(result.state, silence_check(state, later), later, TIMEOUT).emits == []


def test_heartbeat_ends_silence_and_a_new_silence_is_a_new_need() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    t1 = T0 + TIMEOUT * 2
    first = observe(state, silence_check(state, t1), t1, TIMEOUT)
    back = observe(first.state, obs("heartbeat", t1), t1, TIMEOUT)
    assert back.emits[0].record.condition is DeviceCondition.OK  # type: ignore[attr-defined]
    t2 = t1 + TIMEOUT * 2
    second = observe(back.state, silence_check(back.state, t2), t2, TIMEOUT)
    assert second.emits[1].record.need_id != first.emits[1].record.need_id  # type: ignore[attr-defined]


def test_silence_check_after_a_heartbeat_arrived_does_nothing() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    late = T0 + TIMEOUT * 2
    check = silence_check(state, late)
    fresh = observe(state, obs("heartbeat", late), late, TIMEOUT).state
    assert observe(fresh, check, late, TIMEOUT).emits == []


EVERY = timedelta(seconds=90)


def test_a_new_device_is_written() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    assert worth_writing(None, state, None, EVERY)


def test_heartbeats_are_written_once_per_interval_not_each() -> None:
    written = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    state, wrote = written, []
    for s in range(10, 200, 10):  # a heartbeat every 10 s for 190 s
        new = observe(state, obs("heartbeat", T0 + timedelta(seconds=s)), T0, TIMEOUT).state
        if worth_writing(state, new, written, EVERY):
            written = new
            wrote.append(s)
        state = new
    assert wrote == [90, 180]


def test_any_change_but_last_seen_is_written_at_once() -> None:
    written = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    low = observe(written, obs(AlarmStatus.LOW_BATTERY, T0 + timedelta(seconds=1)), T0, TIMEOUT)
    assert worth_writing(written, low.state, written, EVERY)
    silent_at = T0 + TIMEOUT
    silent = observe(written, silence_check(written, silent_at), silent_at, TIMEOUT)
    assert worth_writing(written, silent.state, written, EVERY)


def test_a_silence_check_that_finds_the_device_alive_writes_nothing() -> None:
    state = observe(None, obs("heartbeat", T0), T0, TIMEOUT).state
    later = T0 + timedelta(minutes=1)
    checked = observe(state, silence_check(state, later), later, TIMEOUT)
    assert checked.state == state
    assert not worth_writing(state, checked.state, state, EVERY)
