"""Alarm episodes of a recorded boolean output, as the alarm on it raised or would have
raised them (issue #12: the agreement of a model version with the experts).

An episode runs from the observation at which the alarm's debounced condition
(`Debounce`, with the rule's on- and off-delay) turns on to the one at which it turns off;
one still on at the last observation ends there, `open`. An observation without a usable
value holds the state and restarts a pending delay, as the running alarm does. Pure: the
caller reads the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gateway.alarms.rules import AlarmRule, Debounce


@dataclass(frozen=True, slots=True)
class Episode:
    start: datetime
    end: datetime
    open: bool = False  # still on at the last observation

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether [self.start, self.end] and [start, end] share a moment."""
        return self.start <= end and start <= self.end


def episodes(
    observations: Iterable[tuple[datetime, bool | None]], rule: AlarmRule
) -> list[Episode]:
    """The episodes of `observations` (time, value or None when unusable), oldest first."""
    state = Debounce()
    found: list[Episode] = []
    began: datetime | None = None
    last: datetime | None = None
    for at, value in observations:
        last = at
        state = state.interrupted() if value is None else state.step(rule, value, at)
        if state.active and began is None:
            began = at
        elif not state.active and began is not None:
            found.append(Episode(began, at))
            began = None
    if began is not None and last is not None:
        found.append(Episode(began, last, open=True))
    return found
