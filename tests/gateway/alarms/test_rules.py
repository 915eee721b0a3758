"""Rule validation, hysteresis and on/off delays of the debounced condition, with explicit
times; hypothesis shows that noise inside the band or shorter than the delays never toggles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.alarms import AlarmRule, Condition, Debounce

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(**overrides: object) -> AlarmRule:
    fields: dict[str, object] = {
        "name": "pump1_bearing",
        "source": "pump1.AnomalyScore",
        "condition": Condition.ABOVE,
        "limit": 0.8,
        "hysteresis": 0.05,
    }
    fields.update(overrides)
    return AlarmRule(**fields)  # type: ignore[arg-type]


def run(r: AlarmRule, samples: list[tuple[float, float]], start: bool = False) -> list[bool]:
    """The debounced state after each (time_s, value) sample."""
    state = Debounce(start)
    seen = []
    for time_s, value in samples:
        state = state.step(r, value, at(time_s))
        seen.append(state.active)
    return seen


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"name": ""}, "name must not be empty"),
        ({"limit": None}, 'condition "above" needs a finite limit'),
        ({"limit": float("nan")}, 'condition "above" needs a finite limit'),
        ({"condition": Condition.TRUE, "hysteresis": 0.0}, "limit has no meaning for condition"),
        ({"condition": Condition.TRUE, "limit": None}, "hysteresis has no meaning"),
        ({"hysteresis": -0.1}, "hysteresis must be >= 0 (got -0.1)"),
        ({"on_delay_s": -1.0}, "on_delay_s must be >= 0 (got -1.0)"),
        ({"off_delay_s": float("inf")}, "off_delay_s must be >= 0 (got inf)"),
        ({"severity": 0}, "severity must be 1..1000 (got 0)"),
        ({"severity": 1001}, "severity must be 1..1000 (got 1001)"),
    ],
)
def test_invalid_rules_are_refused_with_the_reason(overrides: dict, problem: str) -> None:
    with pytest.raises(ValueError, match="alarm ") as caught:
        rule(**overrides)
    assert problem in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match="hysteresis must be") as caught:
        rule(hysteresis=-1.0, severity=0)
    assert "severity must be" in str(caught.value)


@pytest.mark.parametrize(
    ("condition", "start", "value", "expected"),
    [
        # above 0.8, hysteresis 0.05: activates above 0.8, clears below 0.75
        (Condition.ABOVE, False, 0.81, True),
        (Condition.ABOVE, False, 0.8, False),
        (Condition.ABOVE, True, 0.76, True),
        (Condition.ABOVE, True, 0.75, True),
        (Condition.ABOVE, True, 0.749, False),
        # below 0.8 mirrored: activates below 0.8, clears above 0.85
        (Condition.BELOW, False, 0.79, True),
        (Condition.BELOW, False, 0.8, False),
        (Condition.BELOW, True, 0.84, True),
        (Condition.BELOW, True, 0.85, True),
        (Condition.BELOW, True, 0.851, False),
    ],
)
def test_limit_and_hysteresis(
    condition: Condition, start: bool, value: float, expected: bool
) -> None:
    assert run(rule(condition=condition), [(0.0, value)], start) == [expected]


@pytest.mark.parametrize(
    ("start", "value", "expected"),
    [(False, True, True), (False, 1, True), (False, False, False), (True, 0, False)],
)
def test_true_condition(start: bool, value: object, expected: bool) -> None:
    r = rule(condition=Condition.TRUE, limit=None, hysteresis=0.0)
    assert Debounce(start).step(r, value, T0).active is expected  # type: ignore[arg-type]


def test_text_on_a_limit_alarm_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="needs a number, got 'high'"):
        Debounce().step(rule(), "high", T0)


def test_on_delay_activates_only_once_the_condition_held_long_enough() -> None:
    r = rule(on_delay_s=10.0)
    samples = [(0.0, 0.9), (5.0, 0.9), (9.999, 0.95), (10.0, 0.9)]
    assert run(r, samples) == [False, False, False, True]


def test_on_delay_restarts_when_the_condition_goes_away() -> None:
    r = rule(on_delay_s=10.0)
    samples = [(0.0, 0.9), (8.0, 0.7), (9.0, 0.9), (18.0, 0.9), (19.0, 0.9)]
    assert run(r, samples) == [False, False, False, False, True]


def test_off_delay_clears_only_once_the_condition_was_gone_long_enough() -> None:
    r = rule(off_delay_s=30.0)
    samples = [(0.0, 0.5), (29.0, 0.5), (30.0, 0.5)]
    assert run(r, samples, start=True) == [True, True, False]


def test_off_delay_restarts_when_the_condition_returns_inside_the_band() -> None:
    # 0.78 is inside the hysteresis band: no longer clearing, so the off-delay restarts.
    r = rule(off_delay_s=30.0)
    samples = [(0.0, 0.5), (20.0, 0.78), (25.0, 0.5), (50.0, 0.5), (55.0, 0.5)]
    assert run(r, samples, start=True) == [True, True, True, True, False]


def test_pending_flip_is_visible_and_restarted_by_an_interruption() -> None:
    state = Debounce().step(rule(on_delay_s=10.0), 0.9, at(3.0))
    assert state == Debounce(False, at(3.0))
    assert state.interrupted() == Debounce(False, None)


LIMIT = 0.8
BAND = 0.05


@given(st.lists(st.floats(LIMIT - BAND, LIMIT + 10.0), min_size=1, max_size=200))
def test_an_active_alarm_never_clears_while_the_signal_stays_in_or_above_the_band(
    values: list[float],
) -> None:
    seen = run(rule(), [(float(i), v) for i, v in enumerate(values)], start=True)
    assert all(seen)


@given(st.lists(st.floats(LIMIT - BAND, LIMIT), min_size=1, max_size=200))
def test_a_signal_oscillating_inside_the_band_never_toggles_either_state(
    values: list[float],
) -> None:
    samples = [(float(i), v) for i, v in enumerate(values)]
    assert all(run(rule(), samples, start=True))
    assert not any(run(rule(), samples, start=False))


DELAY_MS = 10_000


@st.composite
def short_pulses(draw: st.DrawFn) -> list[tuple[int, bool]]:
    """(time_ms, in_breach) samples whose breach runs all last less than DELAY_MS."""
    samples: list[tuple[int, bool]] = []
    now = 0
    for _ in range(draw(st.integers(1, 20))):
        gaps = draw(st.lists(st.integers(1, DELAY_MS), min_size=1, max_size=8))
        offsets = [0]
        for gap in gaps[1:]:
            if offsets[-1] + gap >= DELAY_MS:
                break
            offsets.append(offsets[-1] + gap)
        samples += [(now + offset, True) for offset in offsets]
        now += offsets[-1] + draw(st.integers(1, 3 * DELAY_MS))
        samples.append((now, False))
        now += draw(st.integers(1, 3 * DELAY_MS))
    return samples


@given(short_pulses())
def test_breaches_shorter_than_the_on_delay_never_activate(samples: list[tuple[int, bool]]) -> None:
    r = rule(on_delay_s=DELAY_MS / 1000)
    values = [(ms / 1000, 0.9 if breach else 0.5) for ms, breach in samples]
    assert not any(run(r, values))


@given(short_pulses())
def test_dips_shorter_than_the_off_delay_never_clear(samples: list[tuple[int, bool]]) -> None:
    r = rule(off_delay_s=DELAY_MS / 1000)
    # Inverted: the short runs are below the clearing point, the rest back in alarm.
    values = [(ms / 1000, 0.5 if dip else 0.9) for ms, dip in samples]
    assert all(run(r, values, start=True))


@given(short_pulses())
def test_the_same_pulses_do_activate_without_an_on_delay(samples: list[tuple[int, bool]]) -> None:
    # The check that the property above is not vacuous: no delay, every breach shows.
    values = [(ms / 1000, 0.9 if breach else 0.5) for ms, breach in samples]
    assert run(rule(), values) == [breach for _, breach in samples]
