"""Alarm rules and the ISA-18.2 alarm state machine: pure logic, no I/O."""

from gateway.alarms.events import (
    COMMENT_MAX,
    MAX_TIME_SHELVED,
    AlarmEvent,
    AlarmState,
    EventKind,
)
from gateway.alarms.rules import AlarmRule, Condition, Debounce
from gateway.alarms.state import Alarm, AlarmError, StaleEventId

__all__ = [
    "COMMENT_MAX",
    "MAX_TIME_SHELVED",
    "Alarm",
    "AlarmError",
    "AlarmEvent",
    "AlarmRule",
    "AlarmState",
    "Condition",
    "Debounce",
    "EventKind",
    "StaleEventId",
]
