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
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
)

from gateway.alarms.events import AlarmEvent, AlarmState, EventKind
from gateway.alarms.rules import AlarmRule, Debounce
from gateway.core.files import explain
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
        self.one_shot = False  # shelved until the alarm next clears, or shelved_until
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
    def shelving(self) -> str | None:
        """How the alarm is shelved: "timed", "one-shot" or None."""
        if not self.shelved:
            return None
        return "one-shot" if self.one_shot else "timed"

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
            if not self.active and self.one_shot:
                # Part 9 §5.8.10: a one-shot shelving ends when the alarm returns to normal.
                self._unshelved()
                events.append(self._event(EventKind.UNSHELVED, at, comment="one-shot "
                                          "shelving ended: the alarm cleared"))
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

    def shelve(
        self, until: datetime, user: str, comment: str, at: datetime, *, one_shot: bool = False
    ) -> AlarmEvent:
        """Shelve (or re-shelve) until `until` (`one_shot`: or until the alarm next clears,
        whichever comes first); shelved alarms keep their state but do not annunciate."""
        _require_aware(at)
        _require_aware(until)
        if until <= at:
            raise AlarmError(
                f"alarm {self.rule.name!r}: shelving must end after {at.isoformat()} "
                f"(got {until.isoformat()})"
            )
        self.shelved_until = until
        self.one_shot = one_shot
        return self._event(EventKind.SHELVED, at, user, comment)

    def unshelve(self, user: str, at: datetime) -> AlarmEvent:
        """Unshelve by hand; raises AlarmError if the alarm is not shelved."""
        _require_aware(at)
        if not self.shelved:
            raise AlarmError(f"alarm {self.rule.name!r} is not shelved")
        self._unshelved()
        return self._event(EventKind.UNSHELVED, at, user)

    def expire(self, at: datetime) -> list[AlarmEvent]:
        """Unshelve if the shelving has expired by `at`; the event is dated at the expiry."""
        _require_aware(at)
        if self.shelved_until is None or at < self.shelved_until:
            return []
        expired_at = self.shelved_until
        self._unshelved()
        return [self._event(EventKind.UNSHELVED, expired_at, comment="shelving expired")]

    def _unshelved(self) -> None:
        self.shelved_until = None
        self.one_shot = False

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
            shelved_until=self.shelved_until,
            one_shot=self.one_shot,
        )

    def to_dict(self) -> dict[str, Any]:
        """The persistent state, JSON-ready; a pending on/off delay is not kept."""
        last = self.last_event
        return _SavedAlarm(
            version=STATE_VERSION,
            name=self.rule.name,
            active=self.active,
            acked=self.acked,
            shelved_until=self.shelved_until,
            one_shot=self.one_shot,
            quality=self.quality,
            value=self.value,
            changed_at=self.changed_at,
            last_event=None if last is None else _SavedEvent(
                id=last.id, kind=last.kind, time=last.time, user=last.user, comment=last.comment
            ),
        ).model_dump(mode="json")

    @classmethod
    def from_dict(cls, rule: AlarmRule, data: dict[str, Any]) -> Alarm:
        """Restore the state saved by `to_dict` for the same rule (by name); ValueError
        names what is wrong ("<key path>: <problem>").

        A delay that was pending at the restart starts again from the next observation:
        nobody saw the condition hold while the gateway was down.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"alarm {rule.name!r}: unknown state version {data.get('version')!r}")
        if data.get("name") != rule.name:
            raise ValueError(f"state of alarm {data.get('name')!r} given to alarm {rule.name!r}")
        try:
            saved = _SavedAlarm.model_validate(data)
        except ValidationError as error:
            raise ValueError(explain(error)) from None
        alarm = cls(rule)
        alarm._debounce = Debounce(saved.active)
        alarm.acked = saved.acked
        alarm.shelved_until = saved.shelved_until
        alarm.one_shot = saved.one_shot and saved.shelved_until is not None
        alarm.quality = saved.quality
        alarm.value = saved.value
        alarm.changed_at = saved.changed_at
        last = saved.last_event
        alarm.last_event = None if last is None else alarm.describe(
            last.kind, last.time, last.user, last.comment, last.id
        )
        return alarm


def _aware(at: datetime) -> datetime:
    _require_aware(at)
    return at


def _quality_named(name: object) -> object:
    if not isinstance(name, str):
        return name  # pydantic refuses it
    try:
        return Quality[name]
    except KeyError:
        raise ValueError(f"unknown quality {name!r}") from None


def _quality_name(quality: Quality) -> str:
    return quality.name


# A time in a saved state: timezone-aware, refused with the message the state machine gives.
_SavedTime = Annotated[datetime, AfterValidator(_aware)]


class _SavedEvent(BaseModel):
    """The latest event as saved; the rest of it is the alarm's own state and rule."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kind: EventKind
    time: _SavedTime
    user: str | None
    comment: str | None


class _SavedAlarm(BaseModel):
    """One alarm's persistent state, as `to_dict` writes it (keys it does not know, from a
    later version, are ignored as before)."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    active: bool
    acked: bool
    shelved_until: _SavedTime | None
    one_shot: bool = False  # absent before OPC UA's OneShotShelve (issue #14)
    # Saved by name ("LAST_USABLE"), readable in the file.
    quality: Annotated[
        Quality, BeforeValidator(_quality_named), PlainSerializer(_quality_name, return_type=str)
    ]
    value: Value
    changed_at: _SavedTime | None
    last_event: _SavedEvent | None = None


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"alarm times must be timezone-aware (got {at!r})")
