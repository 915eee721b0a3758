"""One alarm's ISA-18.2 state machine: activation, acknowledgement, shelving, quality.

Every transition returns an immutable `AlarmEvent`; time is always passed in.

Quality policy: an observation whose quality is Bad (or whose value is None) holds the
alarm where it is - it never activates nor clears it - restarts any pending on/off delay
(the condition was not seen to hold), and marks the alarm with that quality. Uncertain
(last usable) values are evaluated like Good ones and the alarm carries their quality.
A quality change produces an event only while the alarm is not Normal (what OPC UA calls
a retained condition); a Normal alarm's quality is visible in its state.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from gateway.alarms.events import AlarmEvent, AlarmState, EventKind
from gateway.alarms.rules import AlarmRule, Debounce
from gateway.core.quality import Quality
from gateway.core.sample import Value

logger = logging.getLogger(__name__)

STATE_VERSION = 1


class AlarmError(Exception):
    """An operator action that the alarm's current state does not allow."""


class StaleEventId(AlarmError):
    """An acknowledgement named an event that is not the alarm's latest (or no event)."""


class Alarm:
    """The live state of one alarm rule."""

    def __init__(self, rule: AlarmRule) -> None:
        self.rule = rule
        self._debounce = Debounce()
        self.acked = True  # Normal is acknowledged: there is nothing to acknowledge
        self.shelved_until: datetime | None = None
        self.quality = Quality.WAITING
        self.value: Value = None
        self.changed_at: datetime | None = None  # time of the last transition
        # The latest event: what a refresh replays and what an acknowledgement must name.
        self.last_event: AlarmEvent | None = None

    @property
    def active(self) -> bool:
        return self._debounce.active

    @property
    def shelved(self) -> bool:
        return self.shelved_until is not None

    @property
    def state(self) -> AlarmState:
        return AlarmState.of(self.active, self.acked)

    def observe(self, value: Value, quality: Quality, at: datetime) -> list[AlarmEvent]:
        """Feed one observation of the source; returns the transitions it caused."""
        _require_aware(at)
        events = self.expire(at)
        was_active = self.active
        if quality.is_bad or value is None:
            self._debounce = self._debounce.interrupted()
        else:
            self._debounce = self._debounce.step(self.rule, value, at)
            self.value = value
        quality_changed = quality != self.quality
        self.quality = quality
        if self.active != was_active:
            if self.active:
                self.acked = False
            kind = EventKind.ACTIVATED if self.active else EventKind.CLEARED
            events.append(self._event(kind, at))
        elif quality_changed and self.state is not AlarmState.NORMAL:
            events.append(self._event(EventKind.QUALITY, at))
        return events

    def acknowledge(
        self, user: str, comment: str, at: datetime, event_id: uuid.UUID | None = None
    ) -> AlarmEvent:
        """Acknowledge an unacknowledged alarm; raises AlarmError otherwise.

        With `event_id`, the acknowledgement holds only if it names the latest event, as an
        OPC UA Acknowledge does (Part 9 §5.7.3): an operator who saw an older state of the
        alarm has not acknowledged the current one.
        """
        _require_aware(at)
        if event_id is not None and (self.last_event is None or self.last_event.id != event_id):
            raise StaleEventId(f"alarm {self.rule.name!r}: event {event_id} is not its latest")
        if self.acked:
            reason = "already acknowledged" if self.active else "normal: nothing to acknowledge"
            raise AlarmError(f"alarm {self.rule.name!r} is {reason}")
        self.acked = True
        return self._event(EventKind.ACKNOWLEDGED, at, user, comment)

    def shelve(self, until: datetime, user: str, comment: str, at: datetime) -> AlarmEvent:
        """Shelve (or re-shelve) until `until`; shelved alarms keep their state but do not
        annunciate."""
        _require_aware(at)
        _require_aware(until)
        if until <= at:
            raise AlarmError(
                f"alarm {self.rule.name!r}: shelving must end after {at.isoformat()} "
                f"(got {until.isoformat()})"
            )
        self.shelved_until = until
        return self._event(EventKind.SHELVED, at, user, comment)

    def unshelve(self, user: str, at: datetime) -> AlarmEvent:
        """Unshelve by hand; raises AlarmError if the alarm is not shelved."""
        _require_aware(at)
        if not self.shelved:
            raise AlarmError(f"alarm {self.rule.name!r} is not shelved")
        self.shelved_until = None
        return self._event(EventKind.UNSHELVED, at, user)

    def expire(self, at: datetime) -> list[AlarmEvent]:
        """Unshelve if the shelving has expired by `at`; the event is dated at the expiry."""
        _require_aware(at)
        if self.shelved_until is None or at < self.shelved_until:
            return []
        expired_at = self.shelved_until
        self.shelved_until = None
        return [self._event(EventKind.UNSHELVED, expired_at, comment="shelving expired")]

    def _event(
        self, kind: EventKind, at: datetime, user: str | None = None, comment: str | None = None
    ) -> AlarmEvent:
        self.changed_at = at
        rule = self.rule
        logger.info(
            "alarm %r %s: state %s, value %r, quality %s",
            rule.name,
            kind,
            self.state,
            self.value,
            self.quality.name,
        )
        self.last_event = self.describe(kind, at, user, comment, uuid.uuid4())
        return self.last_event

    def describe(
        self,
        kind: EventKind,
        at: datetime,
        user: str | None,
        comment: str | None,
        event_id: uuid.UUID,
    ) -> AlarmEvent:
        """An event showing the alarm as it is now (its transitions use it; so does a
        refresh that shows the current state under the latest event's id)."""
        rule = self.rule
        return AlarmEvent(
            kind=kind,
            alarm=rule.name,
            source=rule.source,
            time=at,
            active=self.active,
            acked=self.acked,
            shelved=self.shelved,
            severity=rule.severity,
            value=self.value,
            limit=rule.limit,
            quality=self.quality,
            message=rule.message,
            user=user,
            comment=comment,
            id=event_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """The persistent state, JSON-ready; a pending on/off delay is not kept."""
        return {
            "version": STATE_VERSION,
            "name": self.rule.name,
            "active": self.active,
            "acked": self.acked,
            "shelved_until": _iso(self.shelved_until),
            "quality": self.quality.name,
            "value": self.value,
            "changed_at": _iso(self.changed_at),
            "last_event": None if self.last_event is None else _event_dict(self.last_event),
        }

    @classmethod
    def from_dict(cls, rule: AlarmRule, data: dict[str, Any]) -> Alarm:
        """Restore the state saved by `to_dict` for the same rule (by name).

        A delay that was pending at the restart starts again from the next observation:
        nobody saw the condition hold while the gateway was down.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"alarm {rule.name!r}: unknown state version {data.get('version')!r}")
        if data["name"] != rule.name:
            raise ValueError(f"state of alarm {data['name']!r} given to alarm {rule.name!r}")
        alarm = cls(rule)
        alarm._debounce = Debounce(bool(data["active"]))
        alarm.acked = bool(data["acked"])
        alarm.shelved_until = _from_iso(data["shelved_until"])
        alarm.quality = Quality[data["quality"]]
        alarm.value = data["value"]
        alarm.changed_at = _from_iso(data["changed_at"])
        last = data.get("last_event")
        alarm.last_event = None if last is None else _event_from_dict(alarm, last)
        return alarm


def _event_dict(event: AlarmEvent) -> dict[str, Any]:
    # The rest of the event is the alarm's own state and rule, saved beside it.
    return {
        "id": str(event.id),
        "kind": event.kind.value,
        "time": event.time.isoformat(),
        "user": event.user,
        "comment": event.comment,
    }


def _event_from_dict(alarm: Alarm, data: dict[str, Any]) -> AlarmEvent:
    return alarm.describe(
        EventKind(data["kind"]),
        _aware(datetime.fromisoformat(data["time"])),
        data["user"],
        data["comment"],
        uuid.UUID(data["id"]),
    )


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"alarm times must be timezone-aware (got {at!r})")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else _aware(datetime.fromisoformat(text))


def _aware(at: datetime) -> datetime:
    _require_aware(at)
    return at
