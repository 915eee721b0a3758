"""The newest alarm events in memory, for the web page's "recent" list; a sink of the hub."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from gateway.alarms.events import AlarmEvent


class RecentEvents:
    """The last `size` events the hub delivered, newest first."""

    def __init__(self, size: int = 200) -> None:
        self._events: deque[AlarmEvent] = deque(maxlen=size)

    async def __call__(self, events: Sequence[AlarmEvent]) -> None:
        self._events.extendleft(events)

    def newest(self) -> list[AlarmEvent]:
        return list(self._events)
