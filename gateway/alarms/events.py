"""The immutable record of one alarm transition, as OPC UA A&C and MQTT publish it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.core.quality import Quality
from gateway.core.sample import Value

# The longest operator comment (acknowledge, shelve) the gateway takes, in characters,
# whichever way it comes (MQTT command, OPC UA Acknowledge): a comment is stored with
# the alarm's state and published with its event, so it is bounded (issue #17).
COMMENT_MAX = 4096
# The longest an alarm stays shelved, however it was shelved (ISA-18.2 §11.5 wants
# shelving time-limited): OPC UA's MaxTimeShelved, and the end of a one-shot shelving
# whose alarm never clears.
MAX_TIME_SHELVED = timedelta(days=7)


class AlarmState(StrEnum):
    """The ISA-18.2 alarm states (shelving is orthogonal, as in OPC UA Part 9)."""

    NORMAL = "normal"
    ACTIVE_UNACKED = "active_unacked"
    ACTIVE_ACKED = "active_acked"
    RETURNED_UNACKED = "returned_unacked"  # cleared before anyone acknowledged it

    @classmethod
    def of(cls, active: bool, acked: bool) -> AlarmState:
        if active:
            return cls.ACTIVE_ACKED if acked else cls.ACTIVE_UNACKED
        return cls.NORMAL if acked else cls.RETURNED_UNACKED


class EventKind(StrEnum):
    ACTIVATED = "activated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    QUALITY = "quality"  # the input's quality changed; active/acked did not


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One transition; `time` is when the condition changed (or the operator acted)."""

    kind: EventKind
    alarm: str
    source: str
    time: datetime
    active: bool
    acked: bool
    shelved: bool
    severity: int
    value: Value
    limit: float | None
    quality: Quality
    message: str
    user: str | None = None  # acknowledge and shelve only
    comment: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    shelved_until: datetime | None = None  # when a shelved alarm unshelves at the latest
    one_shot: bool = False  # shelved until it next clears (OPC UA OneShotShelve)

    @property
    def state(self) -> AlarmState:
        return AlarmState.of(self.active, self.acked)

    @property
    def annunciates(self) -> bool:
        """Whether an operator should be shown this alarm now: not normal and not shelved."""
        return self.state is not AlarmState.NORMAL and not self.shelved
