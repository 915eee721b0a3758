"""A flood turned into digests (issue #15): per audience, at most `limit` messages of their
own a minute; what comes beyond that is gathered and sent as one message listing it.

With 1,000 alarm transitions in a minute and `digest_after = 10`, an audience gets the
first 10 alone and then one digest a minute while the flood lasts: eleven messages a
minute, within Telegram's pace of about one a second per chat. Gathered events wait for
their digest (up to `window_s`) here and on disk (gateway.notify.held), from where a
restart restores them; the page's bell lists each one at once.
"""

from __future__ import annotations

from collections import deque

from gateway.notify.events import NotificationEvent

WINDOW_S = 60.0


class Flood:
    """One audience's last minute of messages, and the events waiting for a digest."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self._limit = limit
        self._window_s = window_s
        self._sent: deque[float] = deque()  # monotonic times of the messages sent
        self._held: list[NotificationEvent] = []
        self._digest_at = 0.0

    def offer(self, event: NotificationEvent, now: float) -> bool:
        """True: send `event` alone now; False: it waits for the digest."""
        self._forget(now)
        if not self._held and len(self._sent) < self._limit:
            self._sent.append(now)
            return True
        if not self._held:
            self._digest_at = now + self._window_s
        self._held.append(event)
        return False

    def restore(self, events: list[NotificationEvent], age_s: float, now: float) -> None:
        """Events held before a restart, the oldest `age_s` old: their digest is due when it
        would have been without the restart (at once if that time has passed)."""
        self._held = events + self._held
        self._digest_at = now + max(0.0, self._window_s - age_s)

    def due(self, now: float) -> list[NotificationEvent]:
        """The events of a digest to send now (empty when none is due)."""
        if not self._held or now < self._digest_at:
            return []
        held, self._held = self._held, []
        self._sent.append(now)
        return held

    def waiting(self) -> int:
        """Events gathered for the next digest."""
        return len(self._held)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._window_s:
            self._sent.popleft()
