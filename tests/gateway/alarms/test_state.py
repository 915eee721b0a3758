"""The ISA-18.2 alarm state machine: transitions, acknowledgement, shelving, quality and
persistence, driven by explicit observations and times."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gateway.alarms import (
    Alarm,
    AlarmError,
    AlarmEvent,
    AlarmRule,
    AlarmState,
    Condition,
    EventKind,
    StaleEventId,
)
from gateway.core.quality import Quality

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = Quality.GOOD
HIGH, LOW = 0.9, 0.5


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_alarm(on_delay_s: float = 0.0, off_delay_s: float = 0.0) -> Alarm:
    return Alarm(
        AlarmRule(
            name="pump1_bearing",
            source="pump1.AnomalyScore",
            condition=Condition.ABOVE,
            limit=0.8,
            hysteresis=0.05,
            on_delay_s=on_delay_s,
            off_delay_s=off_delay_s,
            severity=700,
            message="Bearing anomaly on pump 1",
        )
    )


def act(alarm: Alarm, step: tuple, time_s: float) -> list[AlarmEvent]:
    """Apply one scripted step: ("value", v) | ("ack",) | ("shelve", for_s) | ("unshelve",)."""
    when = at(time_s)
    match step:
        case ("value", value):
            return alarm.observe(value, GOOD, when)
        case ("ack",):
            return [alarm.acknowledge("olga", "checked", when)]
        case ("shelve", for_s):
            return [alarm.shelve(when + timedelta(seconds=for_s), "olga", "maintenance", when)]
        case ("unshelve",):
            return [alarm.unshelve("olga", when)]
    raise AssertionError(step)


A_UN, A_ACK = AlarmState.ACTIVE_UNACKED, AlarmState.ACTIVE_ACKED
R_UN, NORMAL = AlarmState.RETURNED_UNACKED, AlarmState.NORMAL
ACT, CLR, ACK = EventKind.ACTIVATED, EventKind.CLEARED, EventKind.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            [("value", HIGH), ("ack",), ("value", LOW)],
            [(ACT, A_UN), (ACK, A_ACK), (CLR, NORMAL)],
            id="full-cycle",
        ),
        pytest.param(
            [("value", HIGH), ("value", LOW), ("ack",)],
            [(ACT, A_UN), (CLR, R_UN), (ACK, NORMAL)],
            id="returned-unacknowledged-then-ack",
        ),
        pytest.param(
            [("value", HIGH), ("value", LOW), ("value", HIGH)],
            [(ACT, A_UN), (CLR, R_UN), (ACT, A_UN)],
            id="returned-unacknowledged-reactivates",
        ),
        pytest.param(
            [("value", HIGH), ("ack",), ("value", LOW), ("value", HIGH)],
            [(ACT, A_UN), (ACK, A_ACK), (CLR, NORMAL), (ACT, A_UN)],
            id="second-activation-needs-a-new-ack",
        ),
        pytest.param(
            [("value", LOW), ("value", HIGH), ("value", HIGH), ("value", 0.78)],
            [(ACT, A_UN)],
            id="repeats-and-band-values-are-not-transitions",
        ),
    ],
)
def test_transitions(script: list[tuple], expected: list[tuple]) -> None:
    alarm = make_alarm()
    events = [e for i, step in enumerate(script) for e in act(alarm, step, float(i))]
    assert [(e.kind, e.state) for e in events] == expected
    assert alarm.state is expected[-1][1]


def test_event_carries_the_rule_the_value_and_the_time_of_the_change() -> None:
    alarm = make_alarm()
    (event,) = alarm.observe(0.93, GOOD, at(4.0))
    assert (event.alarm, event.source, event.severity, event.limit, event.message) == (
        "pump1_bearing",
        "pump1.AnomalyScore",
        700,
        0.8,
        "Bearing anomaly on pump 1",
    )
    assert (event.time, event.value, event.quality, event.active, event.acked) == (
        at(4.0),
        0.93,
        GOOD,
        True,
        False,
    )
    assert (event.user, event.comment, event.shelved, event.annunciates) == (
        None,
        None,
        False,
        True,
    )
    assert event.id.version == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.active = False  # type: ignore[misc]


def test_every_event_has_its_own_id() -> None:
    alarm = make_alarm()
    events = [e for i in range(20) for e in alarm.observe(HIGH if i % 2 else LOW, GOOD, at(i))]
    assert len(events) == 19  # the first LOW is no transition; each later value is
    assert len({e.id for e in events}) == 19
    assert all(isinstance(e.id, uuid.UUID) for e in events)


def test_acknowledge_records_the_user_and_the_comment() -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    event = alarm.acknowledge("olga", "bearing greased, watching", at(7))
    assert (event.kind, event.user, event.comment, event.time) == (
        ACK,
        "olga",
        "bearing greased, watching",
        at(7),
    )
    assert (event.active, event.acked, event.value) == (True, True, HIGH)


def test_acknowledging_a_normal_alarm_is_refused() -> None:
    alarm = make_alarm()
    with pytest.raises(AlarmError, match="'pump1_bearing' is normal: nothing to acknowledge"):
        alarm.acknowledge("olga", "", at(0))
    assert alarm.state is NORMAL


def test_acknowledging_twice_is_refused() -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    alarm.acknowledge("olga", "", at(1))
    with pytest.raises(AlarmError, match="is already acknowledged"):
        alarm.acknowledge("ivan", "", at(2))
    assert alarm.state is A_ACK


def test_delays_date_the_transition_when_the_delay_is_confirmed() -> None:
    alarm = make_alarm(on_delay_s=10.0, off_delay_s=30.0)
    assert alarm.observe(HIGH, GOOD, at(0)) == []
    assert alarm.observe(HIGH, GOOD, at(9)) == []
    (activated,) = alarm.observe(HIGH, GOOD, at(10))
    assert (activated.kind, activated.time) == (ACT, at(10))
    assert alarm.observe(LOW, GOOD, at(11)) == []
    (cleared,) = alarm.observe(LOW, GOOD, at(41))
    assert (cleared.kind, cleared.time, cleared.state) == (CLR, at(41), R_UN)


def test_shelved_alarm_keeps_its_state_but_does_not_annunciate() -> None:
    alarm = make_alarm()
    shelved = alarm.shelve(at(3600), "olga", "sensor replacement", at(0))
    assert (shelved.kind, shelved.shelved, shelved.user, shelved.comment) == (
        EventKind.SHELVED,
        True,
        "olga",
        "sensor replacement",
    )
    (activated,) = alarm.observe(HIGH, GOOD, at(10))
    assert (activated.state, activated.shelved, activated.annunciates) == (A_UN, True, False)
    unshelved = alarm.unshelve("ivan", at(20))
    assert (unshelved.kind, unshelved.user, unshelved.shelved, unshelved.annunciates) == (
        EventKind.UNSHELVED,
        "ivan",
        False,
        True,
    )


def test_shelving_expires_at_its_time() -> None:
    alarm = make_alarm()
    alarm.shelve(at(60), "olga", "", at(0))
    assert alarm.expire(at(59.999)) == []
    assert alarm.shelved
    (event,) = alarm.expire(at(75))
    assert (event.kind, event.time, event.comment, event.user) == (
        EventKind.UNSHELVED,
        at(60),
        "shelving expired",
        None,
    )
    assert not alarm.shelved
    assert alarm.expire(at(80)) == []


def test_an_observation_after_the_expiry_unshelves_first() -> None:
    alarm = make_alarm()
    alarm.shelve(at(60), "olga", "", at(0))
    events = alarm.observe(HIGH, GOOD, at(61))
    assert [(e.kind, e.shelved) for e in events] == [(EventKind.UNSHELVED, False), (ACT, False)]
    assert events[1].annunciates


def test_shelving_can_be_extended() -> None:
    alarm = make_alarm()
    alarm.shelve(at(60), "olga", "", at(0))
    alarm.shelve(at(120), "olga", "longer", at(30))
    assert alarm.expire(at(90)) == []
    assert alarm.shelved_until == at(120)


@pytest.mark.parametrize("until_s", [0.0, -5.0])
def test_shelving_into_the_past_is_refused(until_s: float) -> None:
    alarm = make_alarm()
    with pytest.raises(AlarmError, match="shelving must end after"):
        alarm.shelve(at(until_s), "olga", "", at(0))
    assert not alarm.shelved


def test_unshelving_an_unshelved_alarm_is_refused() -> None:
    with pytest.raises(AlarmError, match="'pump1_bearing' is not shelved"):
        make_alarm().unshelve("olga", at(0))


@pytest.mark.parametrize("bad", [Quality.COMM_ERROR, Quality.DEVICE_ERROR, Quality.WAITING])
def test_bad_input_holds_an_active_alarm_and_marks_it(bad: Quality) -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    (event,) = alarm.observe(None, bad, at(1))
    assert (event.kind, event.active, event.quality, event.value) == (
        EventKind.QUALITY,
        True,
        bad,
        HIGH,
    )
    # Even a value below the clearing point does not clear while its quality is Bad.
    assert alarm.observe(LOW, bad, at(2)) == []
    assert alarm.active
    (back,) = alarm.observe(HIGH, GOOD, at(3))
    assert (back.kind, back.quality, back.active) == (EventKind.QUALITY, GOOD, True)


def test_bad_input_on_a_normal_alarm_changes_its_quality_without_an_event() -> None:
    alarm = make_alarm()
    alarm.observe(LOW, GOOD, at(0))
    assert alarm.observe(None, Quality.COMM_ERROR, at(1)) == []
    assert (alarm.quality, alarm.state) == (Quality.COMM_ERROR, NORMAL)


def test_good_quality_with_no_value_holds_like_bad_input() -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    assert alarm.observe(None, GOOD, at(1)) == []
    assert (alarm.active, alarm.value) == (True, HIGH)


def test_bad_input_restarts_a_pending_on_delay() -> None:
    alarm = make_alarm(on_delay_s=10.0)
    alarm.observe(HIGH, GOOD, at(0))
    alarm.observe(None, Quality.COMM_ERROR, at(5))
    assert alarm.observe(HIGH, GOOD, at(10)) == []
    assert alarm.observe(HIGH, GOOD, at(19)) == []
    (event,) = alarm.observe(HIGH, GOOD, at(20))
    assert event.kind is ACT


def test_uncertain_input_is_evaluated_and_says_so() -> None:
    alarm = make_alarm()
    (event,) = alarm.observe(HIGH, Quality.LAST_USABLE, at(0))
    assert (event.kind, event.quality) == (ACT, Quality.LAST_USABLE)
    (cleared,) = alarm.observe(LOW, Quality.LAST_USABLE, at(1))
    assert (cleared.kind, cleared.quality) == (CLR, Quality.LAST_USABLE)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_alarm().observe(HIGH, GOOD, datetime(2026, 1, 1))


def saved_through_json(alarm: Alarm) -> dict:
    return json.loads(json.dumps(alarm.to_dict()))


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([], id="fresh"),
        pytest.param([("value", HIGH)], id="active-unacked"),
        pytest.param([("value", HIGH), ("ack",)], id="active-acked"),
        pytest.param([("value", HIGH), ("value", LOW)], id="returned-unacked"),
        pytest.param([("value", HIGH), ("shelve", 600)], id="shelved"),
    ],
)
def test_state_round_trips(script: list[tuple]) -> None:
    alarm = make_alarm()
    for i, step in enumerate(script):
        act(alarm, step, float(i))
    restored = Alarm.from_dict(alarm.rule, saved_through_json(alarm))
    assert restored.to_dict() == alarm.to_dict()
    assert (restored.state, restored.shelved_until, restored.quality, restored.value) == (
        alarm.state,
        alarm.shelved_until,
        alarm.quality,
        alarm.value,
    )
    assert restored.changed_at == alarm.changed_at


def test_a_restored_alarm_carries_on_where_it_stopped() -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    restored = Alarm.from_dict(alarm.rule, saved_through_json(alarm))
    assert restored.observe(HIGH, GOOD, at(5)) == []  # still active: no second activation
    event = restored.acknowledge("olga", "after restart", at(6))
    assert event.state is A_ACK


def test_a_pending_delay_restarts_after_a_restore() -> None:
    alarm = make_alarm(on_delay_s=10.0)
    alarm.observe(HIGH, GOOD, at(0))
    restored = Alarm.from_dict(alarm.rule, saved_through_json(alarm))
    assert restored.observe(HIGH, GOOD, at(10)) == []
    (event,) = restored.observe(HIGH, GOOD, at(20))
    assert event.kind is ACT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "pump2_seal"}, "state of alarm 'pump2_seal' given to alarm 'pump1_bearing'"),
        ({"version": 99}, "unknown state version 99"),
        ({"changed_at": "2026-01-01T00:00:00"}, "timezone-aware"),
        # Read through a pydantic model (issue #10): the key path, then the problem.
        ({"quality": "BAD"}, "quality: unknown quality 'BAD'"),
        ({"acked": None}, "acked: Input should be a valid boolean"),
        ({"last_event": {"kind": "activated"}}, "last_event.id: Field required"),
    ],
)
def test_foreign_or_malformed_state_is_refused(change: dict, message: str) -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    data = alarm.to_dict() | change
    with pytest.raises(ValueError, match=message):
        Alarm.from_dict(alarm.rule, data)


def test_acknowledge_names_the_latest_event() -> None:
    alarm = Alarm(AlarmRule("a", "d.t", Condition.ABOVE, limit=1.0))
    (activated,) = alarm.observe(2.0, Quality.GOOD, T0)
    (quality,) = alarm.observe(2.0, Quality.LAST_USABLE, T0 + timedelta(seconds=1))
    with pytest.raises(StaleEventId, match="is not its latest"):
        alarm.acknowledge("op", "seen", T0 + timedelta(seconds=2), event_id=activated.id)
    assert not alarm.acked
    event = alarm.acknowledge("op", "seen", T0 + timedelta(seconds=2), event_id=quality.id)
    assert alarm.acked
    assert alarm.last_event == event


def test_latest_event_survives_a_restart() -> None:
    alarm = Alarm(AlarmRule("a", "d.t", Condition.ABOVE, limit=1.0, severity=800))
    (activated,) = alarm.observe(2.0, Quality.GOOD, T0)
    restored = Alarm.from_dict(alarm.rule, saved_through_json(alarm))
    assert restored.last_event == activated
    restored.acknowledge("op", "", T0 + timedelta(seconds=1), event_id=activated.id)
    assert restored.acked


def test_a_one_shot_shelving_ends_when_the_alarm_clears() -> None:
    alarm = make_alarm()
    alarm.observe(HIGH, GOOD, at(0))
    shelved = alarm.shelve(at(3600), "olga", "", at(1), one_shot=True)
    assert (shelved.shelved, shelved.one_shot, shelved.shelved_until) == (True, True, at(3600))
    assert alarm.observe(0.85, GOOD, at(2)) == []  # still active: still shelved
    cleared, unshelved = alarm.observe(LOW, GOOD, at(3))
    assert (cleared.kind, cleared.shelved) == (EventKind.CLEARED, True)
    assert (unshelved.kind, unshelved.shelved, unshelved.one_shot, unshelved.user) == (
        EventKind.UNSHELVED, False, False, None)
    assert unshelved.comment == "one-shot shelving ended: the alarm cleared"
    assert (alarm.shelved_until, alarm.one_shot) == (None, False)


def test_a_normal_alarm_one_shot_shelved_stays_shelved_through_its_next_activation() -> None:
    alarm = make_alarm()
    alarm.shelve(at(3600), "olga", "", at(0), one_shot=True)
    (activated,) = alarm.observe(HIGH, GOOD, at(1))
    assert (activated.shelved, activated.annunciates) == (True, False)
    assert [event.kind for event in alarm.observe(LOW, GOOD, at(2))] == [
        EventKind.CLEARED, EventKind.UNSHELVED]


def test_a_timed_shelving_outlives_the_alarm_clearing_and_a_one_shot_one_is_restored() -> None:
    timed = make_alarm()
    timed.observe(HIGH, GOOD, at(0))
    timed.shelve(at(3600), "olga", "", at(1))
    assert [event.kind for event in timed.observe(LOW, GOOD, at(2))] == [EventKind.CLEARED]
    assert timed.shelved
    one_shot = make_alarm()
    one_shot.observe(HIGH, GOOD, at(0))
    one_shot.shelve(at(3600), "olga", "", at(1), one_shot=True)
    restored = Alarm.from_dict(one_shot.rule, saved_through_json(one_shot))
    assert (restored.one_shot, restored.shelved_until) == (True, at(3600))
    assert restored.to_dict() == one_shot.to_dict()
