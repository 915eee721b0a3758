"""Telegram's sending limits, kept before each message (issue #15).

Telegram's FAQ for bot developers: avoid more than one message per second in one chat
and more than about 30 per second overall; past that it answers 429 with retry_after. The
pace keeps both by waiting before a send; a 429 that comes anyway holds the chat (or, for
a 429 without a chat, everything) for its retry_after. Time is the injected monotonic
clock and `sleep`, so tests and the bench run minutes of Telegram time in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

PER_CHAT_INTERVAL_S = 1.0
OVERALL_INTERVAL_S = 1.0 / 30


@dataclass
class Pace:
    """Waits until a chat may be sent the next message (`turn`)."""

    monotonic: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    per_chat_s: float = PER_CHAT_INTERVAL_S
    overall_s: float = OVERALL_INTERVAL_S

    def __post_init__(self) -> None:
        self._chat_free_at: dict[int, float] = {}
        self._free_at = 0.0
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # time spent waiting for a turn, for the status

    @asynccontextmanager
    async def turn(self, chat_id: int) -> AsyncIterator[None]:
        """`async with pace.turn(chat)`: wait for the chat's turn, send inside. Turns are
        taken one at a time; the chat's next one is a second after this send *ended*, so
        two messages arrive at Telegram a second apart whatever the network's delays."""
        async with self._lock:
            now = self.monotonic()
            ready = max(now, self._free_at, self._chat_free_at.get(chat_id, 0.0))
            if ready > now:
                self.waited_s += ready - now
                await self.sleep(ready - now)
            self._free_at = ready + self.overall_s
            self._chat_free_at[chat_id] = ready + self.per_chat_s
        try:
            yield
        finally:
            self._chat_free_at[chat_id] = max(self._chat_free_at[chat_id],
                                              self.monotonic() + self.per_chat_s)

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said 429: no message to `chat_id` (None: to anyone) for `seconds`."""
        until = self.monotonic() + seconds
        if chat_id is None:
            self._free_at = max(self._free_at, until)
        else:
            self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), until)
