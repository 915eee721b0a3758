"""Who is sent what (issue #15): an audience's rules applied to one event.

An audience is one recipient of one channel (an e-mail address, a Telegram chat) with the
keys of gateway.config.notify.AudienceRules. The order of the checks is the order people
reason in: is it an event they asked for, about what they look after, serious enough;
then, in their quiet hours, only what is at least the quiet hours' severity goes out.
Held back by quiet hours means not sent to that audience at all: the page's bell still
lists it, and a digest at the end of the night would wake nobody who needed waking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.config.notify import AudienceRules
from gateway.notify.events import NotificationEvent, NotificationKind


@dataclass(frozen=True, slots=True)
class Audience:
    """One recipient on one channel, with its rules and language."""

    channel: str
    recipient: str
    rules: AudienceRules
    language: str

    @property
    def name(self) -> str:
        return f"{self.channel}:{self.recipient}"


def selects(rules: AudienceRules, event: NotificationEvent) -> bool:
    """Whether the audience asked for this event (quiet hours aside)."""
    wanted = set(rules.events)
    if event.kind is NotificationKind.ALARM_CLEARED and not rules.alarm_cleared:
        wanted.discard("alarm")  # "alarm" means cleared only with alarm_cleared = true
    if not wanted & event.names():
        return False
    if event.severity < rules.min_severity:
        return False
    if rules.assets and event.asset not in rules.assets:
        return False
    return event.alarm is None or rules.wants_alarm(event.alarm)


def quiet(rules: AudienceRules, event: NotificationEvent, now: datetime) -> bool:
    """Whether the audience's quiet hours hold this event back at `now` (aware)."""
    hours = rules.quiet_hours
    if hours is None or event.severity >= hours.min_severity:
        return False
    return hours.covers(now.astimezone().time())
