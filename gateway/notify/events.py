"""What a notification is about (issue #15): one event, before any audience or language."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class NotificationKind(StrEnum):
    """What happened. An audience's `events` names these, or "alarm" for the first two."""

    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_UNACKNOWLEDGED = "alarm_unacknowledged"  # escalation: still unacknowledged
    MAINTENANCE_DUE = "maintenance_due"  # an asset's RUL below its limit
    DEVICE_DOWN = "device_down"  # a device unreachable longer than configured
    MODEL_REJECTED = "model_rejected"  # a model file refused on reload
    TRAINING_FINISHED = "training_finished"


# The name an audience's `events` gives raised and cleared together (gateway.config.notify).
ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Contribution:
    """One input signal's share of an anomaly score, when the model can say."""

    signal: str
    share: float  # 0..1


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """One thing to tell people about; everything a message shows, in no language yet.

    `event_id` is what the Acknowledge / Shelve / verdict actions carry back (the alarm
    event's id for alarms). `link` is a path on the web page ("/alarms#name"), joined to
    the configured page URL by the renderer.
    """

    kind: NotificationKind
    severity: int  # 1..1000, as alarms (OPC UA Part 9)
    gateway: str
    time: datetime  # aware UTC: when it happened
    asset: str | None = None  # the asset or device it concerns
    source: str | None = None  # the alarm's source, the device or the model file
    alarm: str | None = None  # the alarm's name, for alarm kinds
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    value: float | bool | str | None = None
    limit: float | None = None
    unit: str | None = None
    # maintenance_due: the RUL's interval (low, high) when the model gives one.
    interval: tuple[float, float] | None = None
    score: float | None = None  # anomaly score, for model alarms
    contributions: tuple[Contribution, ...] = ()
    detail: str = ""  # the alarm's message, the refusal's reason, the job's outcome
    link: str = "/"
    # Whether the event still stands: acknowledge/shelve buttons make sense only then.
    actionable: bool = False

    def names(self) -> frozenset[str]:
        """The `events` names that select this event (its kind, and "alarm" for alarms)."""
        if self.kind in (NotificationKind.ALARM_RAISED, NotificationKind.ALARM_CLEARED):
            return frozenset((self.kind.value, ALARM))
        return frozenset((self.kind.value,))

    def to_json(self) -> bytes:
        """The event as the digest's store keeps it (gateway.notify.held)."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return json.dumps(data, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> NotificationEvent:
        """The event `to_json` stored; ValueError if it is not one."""
        try:
            data: dict[str, Any] = json.loads(payload)
            interval = data.pop("interval")
            return cls(
                **data | {
                    "kind": NotificationKind(data["kind"]),
                    "time": datetime.fromisoformat(data["time"]),
                    "interval": None if interval is None else (interval[0], interval[1]),
                    "contributions": tuple(Contribution(c["signal"], c["share"])
                                           for c in data["contributions"]),
                })
        except (TypeError, KeyError, IndexError, json.JSONDecodeError) as error:
            raise ValueError(f"not a stored notification event: {error}") from error
