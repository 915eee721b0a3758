"""Time that passes only when someone waits: minutes of Telegram pacing and backoff in a
test that runs in well under a second."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.runtime.backoff import Backoff


@dataclass
class LogicalTime:
    """A monotonic clock that `sleep` moves on at once (yielding to the loop)."""

    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class CountedBackoff(Backoff):
    """The sender's default backoff (1 s doubling to 60 s): each delay it asks for is added
    in full to `logical_s`, and is slept scaled down by `scale`, so a test runs a
    10-minute outage attempt for attempt in a fraction of a second."""

    def __init__(self, scale: float = 1e-3) -> None:
        super().__init__(initial_s=1.0, max_s=60.0)
        self.scale = scale
        self.logical_s = 0.0
        self.delays = 0

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.logical_s += delay
        self.delays += 1
        return delay * self.scale
