"""Exponential backoff with jitter for reconnect attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays grow from `initial_s` by `factor` up to `max_s`, each spread by +-`jitter`.

    Jitter keeps a plant's worth of devices that failed together (a switch reboot) from
    retrying in lockstep.
    """

    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    _next_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next_s = self.initial_s

    def next_delay(self) -> float:
        """The delay before the next attempt; grows the following one."""
        base = self._next_s
        self._next_s = min(self._next_s * self.factor, self.max_s)
        spread = base * self.jitter
        return max(0.0, base + self.rng.uniform(-spread, spread))

    def reset(self) -> None:
        self._next_s = self.initial_s
