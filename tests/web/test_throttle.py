"""The login throttle's counting, with an injected clock."""

from __future__ import annotations

import pytest

from tests.web.conftest import FakeClock
from web.throttle import LoginThrottle

HERE = "192.0.2.1"
THERE = "192.0.2.2"


@pytest.fixture
def throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(max_failures=5, window_s=300.0, clock=clock.monotonic)


def test_five_failures_lock_the_name_until_the_oldest_leaves_the_window(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for index in range(5):
        assert throttle.retry_after("ann", f"192.0.2.{10 + index}") is None
        assert throttle.failed("ann", f"192.0.2.{10 + index}") == (index == 4)
        clock.advance(10)
    # From any address: the first failure was 50 s ago, so 250 s are left.
    assert throttle.retry_after("ann", THERE) == pytest.approx(250.0)
    assert throttle.retry_after("bob", THERE) is None
    clock.advance(249)
    assert throttle.retry_after("ann", THERE) == pytest.approx(1.0)
    clock.advance(1)
    assert throttle.retry_after("ann", THERE) is None
    # Sliding: the second failure still counts, so one more locks again until it leaves.
    throttle.failed("ann", THERE)
    assert throttle.retry_after("ann", THERE) == pytest.approx(10.0)


def test_five_failures_lock_the_address_for_every_name(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for index in range(5):
        throttle.failed(f"guess{index}", HERE)
    assert throttle.retry_after("ann", HERE) == pytest.approx(300.0)
    assert throttle.retry_after("ann", THERE) is None


def test_success_resets_the_name_but_not_the_address(throttle: LoginThrottle) -> None:
    for _ in range(4):
        throttle.failed("ann", HERE)
    throttle.succeeded("ann")
    throttle.failed("ann", THERE)
    assert throttle.retry_after("ann", THERE) is None  # the name's count restarted
    throttle.failed("bob", HERE)
    assert throttle.retry_after("carl", HERE) == pytest.approx(300.0)  # HERE has five


def test_failures_spread_wider_than_the_window_never_lock(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for _ in range(20):
        throttle.failed("ann", HERE)
        assert throttle.retry_after("ann", HERE) is None
        clock.advance(76)  # any five failures span 4 x 76 = 304 s, more than the window


def test_counters_of_old_failures_are_dropped(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=5, window_s=300.0, clock=clock.monotonic)
    for index in range(1000):
        throttle.failed(f"invented{index}", f"198.51.100.{index % 250}")
    clock.advance(301)
    throttle.failed("ann", HERE)
    assert len(throttle._failures) == 2  # the memory bound is the point
