"""Backoff grows, caps, jitters within bounds and resets."""

from __future__ import annotations

import random

from gateway.runtime.backoff import Backoff


def test_grows_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_within_its_spread_and_varies() -> None:
    backoff = Backoff(1.0, 1.0, jitter=0.2, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


def test_reset_starts_over() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.0)
    for _ in range(3):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0
