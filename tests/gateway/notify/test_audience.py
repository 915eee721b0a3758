"""An audience's rules on single events (gateway/notify/audience.py), and quiet hours across
midnight (gateway/config/notify.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from gateway.config.notify import AudienceRules, QuietHours
from gateway.notify.audience import selects
from gateway.notify.events import NotificationEvent, NotificationKind

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _event(kind: NotificationKind = NotificationKind.ALARM_RAISED, severity: int = 500,
           asset: str = "pump3", alarm: str | None = "pump3_pressure_high") -> NotificationEvent:
    return NotificationEvent(kind=kind, severity=severity, gateway="g", time=AT, asset=asset,
                             alarm=alarm)


@pytest.mark.parametrize(("rules", "event", "chosen"), [
    (AudienceRules(), _event(), True),
    (AudienceRules(), _event(NotificationKind.ALARM_CLEARED), False),
    (AudienceRules(alarm_cleared=True), _event(NotificationKind.ALARM_CLEARED), True),
    (AudienceRules(events=["alarm_cleared"]), _event(NotificationKind.ALARM_CLEARED), True),
    (AudienceRules(), _event(NotificationKind.MODEL_REJECTED, alarm=None), False),
    (AudienceRules(events=["model_rejected"]), _event(NotificationKind.MODEL_REJECTED,
                                                      alarm=None), True),
    (AudienceRules(min_severity=501), _event(), False),
    (AudienceRules(min_severity=500), _event(), True),
    (AudienceRules(assets=["pump4"]), _event(), False),
    (AudienceRules(alarms=["pump?_pressure_*"]), _event(), True),
    (AudienceRules(alarms=["*_flow_*"]), _event(), False),
    (AudienceRules(alarms=["*_flow_*"]), _event(NotificationKind.DEVICE_DOWN, alarm=None,
                                                severity=700), True),
])
def test_selects(rules: AudienceRules, event: NotificationEvent, chosen: bool) -> None:
    assert selects(rules, event) is chosen


@pytest.mark.parametrize(("start", "end", "at", "covered"), [
    ("22:00", "07:00", time(23, 30), True),
    ("22:00", "07:00", time(3, 0), True),
    ("22:00", "07:00", time(7, 0), False),
    ("22:00", "07:00", time(21, 59), False),
    ("12:00", "13:00", time(12, 30), True),
    ("12:00", "13:00", time(13, 30), False),
])
def test_quiet_hours_may_span_midnight(start: str, end: str, at: time, covered: bool) -> None:
    assert QuietHours(start=start, end=end).covers(at) is covered
