"""An alarm rule and its debounced condition: limit, hysteresis, on- and off-delay.

Pure functions of explicit observations and times; nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import cast

from gateway.core.sample import Value

SEVERITY_MIN = 1
SEVERITY_MAX = 1000  # the OPC UA Severity range (Part 5 BaseEventType)


class Condition(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    TRUE = "true"


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One configured alarm: when its source value is in alarm, and how it is announced."""

    name: str
    source: str  # a tag key (<device>.<tag>) or an asset output
    condition: Condition
    limit: float | None = None  # required for above/below, absent for "true"
    hysteresis: float = 0.0
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    severity: int = 500
    message: str = ""

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError(f"alarm {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not self.name:
            problems.append("name must not be empty")
        if self.condition is Condition.TRUE:
            if self.limit is not None:
                problems.append('limit has no meaning for condition "true"')
            if self.hysteresis:
                problems.append('hysteresis has no meaning for condition "true"')
        elif self.limit is None or not math.isfinite(self.limit):
            problems.append(f'condition "{self.condition}" needs a finite limit')
        if not (math.isfinite(self.hysteresis) and self.hysteresis >= 0):
            problems.append(f"hysteresis must be >= 0 (got {self.hysteresis})")
        for key, delay in (("on_delay_s", self.on_delay_s), ("off_delay_s", self.off_delay_s)):
            if not (math.isfinite(delay) and delay >= 0):
                problems.append(f"{key} must be >= 0 (got {delay})")
        if not SEVERITY_MIN <= self.severity <= SEVERITY_MAX:
            problems.append(
                f"severity must be {SEVERITY_MIN}..{SEVERITY_MAX} (got {self.severity})"
            )
        return problems

    def entering(self, value: Value) -> bool:
        """Whether a value, seen while the alarm is inactive, asks to activate it."""
        if self.condition is Condition.TRUE:
            return bool(value)
        number = _number(self, value)
        limit = cast(float, self.limit)  # checked in __post_init__
        if self.condition is Condition.ABOVE:
            return number > limit
        return number < limit

    def leaving(self, value: Value) -> bool:
        """Whether a value, seen while the alarm is active, asks to clear it (past hysteresis)."""
        if self.condition is Condition.TRUE:
            return not value
        number = _number(self, value)
        limit = cast(float, self.limit)  # checked in __post_init__
        if self.condition is Condition.ABOVE:
            return number < limit - self.hysteresis
        return number > limit + self.hysteresis


def _number(rule: AlarmRule, value: Value) -> float:
    # A text value on a limit alarm is a configuration mistake, not a process condition.
    if isinstance(value, str) or value is None:
        raise TypeError(f"alarm {rule.name!r}: {rule.condition} needs a number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Debounce:
    """The delayed condition: `active` flips only after the raw condition held its delay."""

    active: bool = False
    # When the raw condition started to disagree with `active`; None while they agree.
    pending_since: datetime | None = None

    def step(self, rule: AlarmRule, value: Value, at: datetime) -> Debounce:
        """The state after observing a usable `value` at `at`."""
        wants_flip = rule.leaving(value) if self.active else rule.entering(value)
        if not wants_flip:
            # Back inside the band (or never left): a pending flip is forgotten, which is
            # what stops a signal shorter than the delay from toggling the alarm.
            return Debounce(self.active)
        since = self.pending_since or at
        delay_s = rule.off_delay_s if self.active else rule.on_delay_s
        if at - since >= timedelta(seconds=delay_s):
            return Debounce(not self.active)
        return Debounce(self.active, since)

    def interrupted(self) -> Debounce:
        """The state after an unusable observation: held, with any pending flip restarted."""
        return Debounce(self.active)
