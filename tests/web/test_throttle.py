"""The login throttle's counting, with an injected clock, and the bounded login queue."""

from __future__ import annotations

import pytest

from tests.web.conftest import FakeClock
from web.throttle import LoginLocked, LoginQueue, LoginQueueFull, LoginThrottle

HERE = "192.0.2.1"
THERE = "192.0.2.2"


@pytest.fixture
def throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(max_failures=5, window_s=300.0, clock=clock.monotonic)


def locked_for(throttle: LoginThrottle, name: str, address: str) -> float:
    with pytest.raises(LoginLocked) as refused:
        throttle.begin(name, address)
    return refused.value.retry_after_s


def test_five_attempts_lock_the_address_for_every_name_until_the_oldest_leaves_the_window(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for index in range(5):
        throttle.begin(f"guess{index}", HERE)  # counted as they start, none has ended
        clock.advance(10)
    assert locked_for(throttle, "ann", HERE) == pytest.approx(250.0)
    assert throttle.retry_after("ann", THERE) is None
    clock.advance(249)
    assert locked_for(throttle, "ann", HERE) == pytest.approx(1.0)
    clock.advance(1)
    throttle.begin("ann", HERE)  # sliding: the second attempt still counts, so this locks
    assert throttle.retry_after("bob", HERE) == pytest.approx(10.0)


def test_a_name_under_attack_is_closed_to_the_addresses_that_tried_it_only(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    attackers = [f"198.51.100.{host}" for host in range(5)]
    for address in attackers:
        throttle.begin("ann", address)
        clock.advance(10)
    for address in attackers:
        # Until the name's fifth-newest attempt leaves the window (the attack ends).
        assert locked_for(throttle, "ann", address) == pytest.approx(250.0)
        assert throttle.retry_after("bob", address) is None
    throttle.begin("ann", HERE)  # her own address has not tried: she may
    # But once only: until the attack dies down, 10 s later now that her try counts too.
    assert throttle.retry_after("ann", HERE) == pytest.approx(260.0)
    clock.advance(300)
    assert throttle.retry_after("ann", attackers[0]) is None


def test_an_attempt_taken_back_does_not_count(throttle: LoginThrottle) -> None:
    for _ in range(4):
        throttle.begin("ann", HERE)
    throttle.take_back(throttle.begin("ann", HERE))  # the right password
    assert throttle.retry_after("ann", HERE) is None
    throttle.begin("bob", HERE)
    assert throttle.retry_after("carl", HERE) == pytest.approx(300.0)


def test_attempts_spread_wider_than_the_window_never_lock(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for _ in range(20):
        throttle.begin("ann", HERE)
        assert throttle.retry_after("ann", HERE) is None
        clock.advance(76)  # any five attempts span 4 x 76 = 304 s, more than the window


def test_counters_of_old_attempts_are_dropped(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=5, window_s=300.0, clock=clock.monotonic)
    for index in range(1000):
        throttle.begin(f"invented{index}", f"198.51.100.{index % 250}")
    clock.advance(301)
    throttle.begin("ann", HERE)
    assert len(throttle._attempts) == 3  # the memory bound is the point


def test_the_login_queue_refuses_beyond_its_capacity_and_frees_places() -> None:
    queue = LoginQueue(capacity=2)
    with queue.place(), queue.place(), pytest.raises(LoginQueueFull), queue.place():
        pass
    with queue.place(), queue.place():
        pass
