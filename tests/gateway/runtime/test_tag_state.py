"""Change detection, deadband and honest quality for one tag, with explicit times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.quality import Quality
from gateway.runtime.tag_state import TagState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_first_good_read_is_published_with_its_time() -> None:
    state = TagState("pump1.flow")
    sample = state.observe(12.5, 0.0, T0)
    assert sample is not None
    assert (sample.key, sample.value, sample.quality, sample.source_time) == (
        "pump1.flow", 12.5, Quality.GOOD, T0,
    )


def test_unchanged_value_is_not_republished() -> None:
    state = TagState("t")
    state.observe(7, 0.0, T0)
    assert state.observe(7, 1.0, T1) is None


@pytest.mark.parametrize(
    ("deadband", "new", "published"),
    [(0.0, 10.0001, True), (0.5, 10.4, False), (0.5, 10.6, True), (0.5, 9.4, True)],
)
def test_deadband(deadband: float, new: float, published: bool) -> None:
    state = TagState("t", deadband)
    state.observe(10.0, 0.0, T0)
    assert (state.observe(new, 1.0, T1) is not None) is published


def test_deadband_is_measured_from_the_last_published_value() -> None:
    state = TagState("t", 1.0)
    state.observe(10.0, 0.0, T0)
    for step, value in enumerate((10.6, 11.2)):
        sample = state.observe(value, float(step), T1)
    assert sample is not None
    assert sample.value == 11.2


def test_nan_is_a_value_like_any_other() -> None:
    state = TagState("t")
    state.observe(math.nan, 0.0, T0)
    assert state.observe(math.nan, 1.0, T1) is None
    assert state.observe(1.0, 2.0, T1) is not None


def test_bool_and_int_are_different_values() -> None:
    state = TagState("t")
    state.observe(1, 0.0, T0)
    assert state.observe(True, 1.0, T1) is not None


def test_link_failure_keeps_value_as_last_usable_until_stale() -> None:
    state = TagState("t")
    state.observe(3.0, 100.0, T0)
    sample = state.link_failed(101.0, 5.0, T1)
    assert sample is not None
    assert (sample.quality, sample.value) == (Quality.LAST_USABLE, 3.0)
    assert state.stale_deadline(5.0) == 105.0
    assert state.link_failed(104.9, 5.0, T1) is None
    stale = state.link_failed(105.0, 5.0, T1)
    assert stale is not None
    assert stale.quality is Quality.COMM_ERROR


def test_link_failure_with_default_stale_after_is_a_comm_error_at_once() -> None:
    state = TagState("t")
    state.observe(3.0, 100.0, T0)
    sample = state.link_failed(100.5, 0.0, T1)
    assert sample is not None
    assert sample.quality is Quality.COMM_ERROR


def test_never_read_tag_goes_from_waiting_to_comm_error() -> None:
    state = TagState("t")
    assert state.quality is Quality.WAITING
    sample = state.link_failed(1.0, 60.0, T1)
    assert sample is not None
    assert sample.quality is Quality.COMM_ERROR


def test_recovery_republishes_even_an_unchanged_value_as_good() -> None:
    state = TagState("t")
    state.observe(3.0, 0.0, T0)
    state.link_failed(1.0, 0.0, T1)
    sample = state.observe(3.0, 2.0, T1)
    assert sample is not None
    assert sample.quality is Quality.GOOD


def test_device_error_is_reported_once() -> None:
    state = TagState("t")
    state.observe(3.0, 0.0, T0)
    assert state.fail(Quality.DEVICE_ERROR, T1) is not None
    assert state.fail(Quality.DEVICE_ERROR, T1) is None


VALUES = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 1.5, math.nan, math.inf]),
    st.sampled_from(["", "a"]),
)


@settings(deadline=None)
@given(first=VALUES, second=VALUES)
def test_without_deadband_a_value_is_republished_exactly_when_it_differs(
    first: bool | int | float | str, second: bool | int | float | str
) -> None:
    both_nan = isinstance(first, float) and isinstance(second, float)
    both_nan = both_nan and math.isnan(first) and math.isnan(second)
    same = type(first) is type(second) and (first == second or both_nan)
    state = TagState("t")
    state.observe(first, 0.0, T0)
    assert (state.observe(second, 1.0, T1) is None) is same
