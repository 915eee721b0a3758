"""Login throttling: too many failures for a user name, or from an address, lock it a while.

Both are counted, so guessing one user's password from many addresses and trying many
user names from one address are both slowed. A locked attempt is answered before any
password is checked, and does not extend the lock. Behind a reverse proxy every request
comes from the proxy's address: the address counter then locks everyone together.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_S = 300.0
# Above this many counters, the ones whose failures all left the window are dropped, so
# a stream of invented user names cannot grow memory without bound.
_PRUNE_ABOVE = 1000
# Real user names are at most 32 characters (web/users.py); a longer guess is cut so that
# a counter's key stays small whatever the form carried.
_NAME_KEY_CHARS = 64


class LoginThrottle:
    """Failure counts per user name and per client address within a sliding window."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, name: str, address: str) -> float | None:
        """Seconds until `name` may try again from `address`, or None if it may now."""
        now = self._clock()
        waits = [self._wait(key, now) for key in _keys(name, address)]
        longest = max(waits)
        return longest if longest > 0 else None

    def failed(self, name: str, address: str) -> bool:
        """Count a failed login; True when the name or the address is now locked."""
        now = self._clock()
        locks = False
        for key in _keys(name, address):
            times = self._failures.setdefault(key, deque(maxlen=self._max_failures))
            times.append(now)
            locks |= self._wait(key, now) > 0
        if len(self._failures) > _PRUNE_ABOVE:
            self._failures = {key: times for key, times in self._failures.items()
                              if times[-1] > now - self._window_s}
        return locks

    def succeeded(self, name: str) -> None:
        """A successful login clears its user name's failures (not its address's)."""
        self._failures.pop(("user", name), None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        times = self._failures.get(key)
        if times is None or len(times) < self._max_failures:
            return 0.0
        # The deque holds the latest max_failures failures: the lock lifts when the oldest
        # of them leaves the window.
        return times[0] + self._window_s - now


def _keys(name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("user", name[:_NAME_KEY_CHARS]), ("address", address)
