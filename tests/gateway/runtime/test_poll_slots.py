"""The poll loops' shared wake-up grid (`gateway.runtime.poller.on_slot`)."""

from __future__ import annotations

import random

import pytest

from gateway.runtime.poller import on_slot


@pytest.mark.parametrize(
    ("poll_interval", "slot_s"),
    [(1.0, 0.02), (3600.0, 0.02), (0.5, 0.01), (0.1, 0.002), (0.01, 0.0002)],
)
def test_a_wake_is_never_early_and_less_than_a_slot_late(
    poll_interval: float, slot_s: float
) -> None:
    rng = random.Random(7)
    for _ in range(10_000):
        when = rng.uniform(0.0, 1e6)
        woken = on_slot(when, poll_interval)
        assert when <= woken < when + slot_s * 1.000001
        # On the grid: a whole number of slots (to the float's precision at that size).
        assert woken == pytest.approx(round(woken / slot_s) * slot_s, abs=1e-6)


def test_the_times_of_one_slot_wake_together() -> None:
    """Devices whose polls fall in one slot get the same wake time (one loop turn)."""
    base = 123_456.780  # a slot boundary of the 20 ms grid
    times = [base + 0.0001, base + 0.0073, base + 0.0199]
    assert len({on_slot(t, 1.0) for t in times}) == 1
    assert on_slot(base + 0.0201, 1.0) > on_slot(times[0], 1.0)


def test_a_time_on_a_boundary_is_not_delayed() -> None:
    """A poll already on the grid wakes at its time, not a slot later: whole intervals
    added to it stay on the grid, so a device keeps its slot from poll to poll."""
    first = on_slot(1000.0123, 1.0)
    for polls in range(1, 200):
        due = first + polls * 1.0
        assert on_slot(due, 1.0) == pytest.approx(due, abs=1e-9)
