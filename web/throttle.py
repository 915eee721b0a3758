"""Login throttling: attempts are counted when they start, before any password is hashed.

Issue #17 showed the two ways a throttle that counts finished failures fails: 300 parallel
guesses all pass a check made before the first slow hash ends, and a lock on the user name
lets anyone lock its owner out by failing five times. So here:

- An attempt counts as a failure from the moment it is let in; one that succeeds (or never
  reaches the hash) is taken back. Parallel guesses thus meet the limit as they arrive.
- Per address: five attempts within the window lock the address, for every user name.
- Per account: once a user name has five attempts within the window it is under attack,
  and each address that already tried it in the window is refused it, so every address
  gets one guess at it; an address that has not tried it (its owner's, say) still may.
- A locked attempt is answered before any password is checked and is not counted.
- LoginQueue bounds the logins waiting for a hash at once, the global slow-down.

Behind a reverse proxy every request comes from the proxy's address: the address counter
then locks everyone together.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_S = 300.0
# Logins waiting for or running their password hash at once. web/users.py runs two hashes
# at a time at ~0.1 s each, so the last in line waits about 1.6 s on the development
# machine: that is the deadline. Five addresses of an attacker fill at most 25 places.
MAX_QUEUED_LOGINS = 32
# Above this many counters, the ones whose attempts all left the window are dropped, so
# a stream of invented user names cannot grow memory without bound.
_PRUNE_ABOVE = 1000
# Real user names are at most 32 characters (web/users.py); a longer guess is cut so that
# a counter's key stays small whatever the form carried.
_NAME_KEY_CHARS = 64


class LoginLocked(Exception):
    """The name or the address may not try now; `retry_after_s` says for how long."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"locked for {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class LoginQueueFull(Exception):
    """Too many logins are waiting for a password hash already."""


@dataclass(frozen=True)
class Attempt:
    """A login attempt let in by the throttle, counted as a failure until taken back."""

    name: str
    address: str
    at: float


class LoginThrottle:
    """Attempts per client address, per user name and per (name, address) in a sliding
    window."""

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
        self._attempts: dict[tuple[str, ...], deque[float]] = {}

    def begin(self, name: str, address: str) -> Attempt:
        """Let an attempt of `name` from `address` in and count it as failed; LoginLocked
        (counting nothing) while the address is locked or the name is locked to it."""
        wait_s = self.retry_after(name, address)
        if wait_s is not None:
            raise LoginLocked(wait_s)
        now = self._clock()
        for key in _keys(name, address):
            self._attempts.setdefault(key, deque(maxlen=self._max_failures)).append(now)
        if len(self._attempts) > _PRUNE_ABOVE:
            self._attempts = {key: times for key, times in self._attempts.items()
                              if times[-1] > now - self._window_s}
        return Attempt(name, address, now)

    def take_back(self, attempt: Attempt) -> None:
        """Uncount an attempt that did not fail: it succeeded, or never reached the hash."""
        for key in _keys(attempt.name, attempt.address):
            # Gone already when max_failures newer attempts pushed it out.
            with contextlib.suppress(KeyError, ValueError):
                self._attempts[key].remove(attempt.at)

    def retry_after(self, name: str, address: str) -> float | None:
        """Seconds until `name` may try again from `address`, or None if it may now."""
        now = self._clock()
        by_address, by_name, by_pair = _keys(name, address)
        wait_s = self._full_for(by_address, now)
        tried_here = self._attempts.get(by_pair)
        if tried_here:
            # The name under attack stays closed to this address until its own last try
            # leaves the window, or the attack on the name dies down, whichever is first.
            wait_s = max(wait_s, min(self._full_for(by_name, now),
                                     tried_here[-1] + self._window_s - now))
        return wait_s if wait_s > 0 else None

    def _full_for(self, key: tuple[str, ...], now: float) -> float:
        """Seconds until `key` has fewer than max_failures attempts in the window."""
        times = self._attempts.get(key)
        if times is None or len(times) < self._max_failures:
            return 0.0
        # The deque holds the latest max_failures attempts: the count drops when the oldest
        # of them leaves the window.
        return times[0] + self._window_s - now


class LoginQueue:
    """A bounded number of logins waiting for or running a password hash: more are refused
    at once rather than queued behind minutes of hashing, and the right password gets in
    as soon as the rush (bounded per address by LoginThrottle) leaves a place."""

    def __init__(self, capacity: int = MAX_QUEUED_LOGINS) -> None:
        self._capacity = capacity
        self._taken = 0
        self._full = False

    @contextlib.contextmanager
    def place(self) -> Iterator[None]:
        """Hold a place for one login; LoginQueueFull when there is none."""
        if self._taken >= self._capacity:
            if not self._full:  # once per rush, not once per refused login
                logger.warning("refusing logins: %d wait for a password hash already",
                               self._taken)
                self._full = True
            raise LoginQueueFull
        self._taken += 1
        try:
            yield
        finally:
            self._taken -= 1
            if self._full and self._taken == 0:
                logger.info("taking logins again: none waits for a password hash")
                self._full = False


def _keys(name: str, address: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    user = name[:_NAME_KEY_CHARS]
    return ("address", address), ("user", user), ("pair", user, address)
