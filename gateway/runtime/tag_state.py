"""Per-tag memory of what was last published: change detection, deadband, honest quality."""

from __future__ import annotations

import math
from datetime import datetime

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value

_GOOD = Quality.GOOD


class TagState:
    """Decides which observations of one tag become published samples.

    A value is published when its quality changes or when it moves by more than the
    deadband (any change when the deadband is 0). An unchanged value is not re-published,
    so its SourceTimestamp stays the time it last changed at the source.
    """

    __slots__ = ("deadband", "key", "last_good_time", "quality", "value")

    def __init__(self, key: str, deadband: float = 0.0) -> None:
        self.key = key
        self.deadband = deadband
        self.value: Value = None
        self.quality = Quality.WAITING
        self.last_good_time: float | None = None

    def observe(self, value: Value, now_mono: float, now: datetime) -> Sample | None:
        """A fresh good read; returns the sample to publish, if any."""
        self.last_good_time = now_mono
        if self.quality is _GOOD:
            old = self.value
            if self.deadband:
                if not self._beyond_deadband(value):
                    return None
            # The same value of the same type, or NaN again (NaN alone is unequal to itself):
            # inline, as this runs for every value polled (issue #17).
            elif (value == old and type(value) is type(old)) or (value != value and old != old):
                return None
        self.value = value
        self.quality = _GOOD
        return Sample(self.key, value, _GOOD, now)

    def fail(self, quality: Quality, now: datetime) -> Sample | None:
        """The read failed with `quality`; the value is kept only while last-usable."""
        if quality is self.quality:
            return None
        self.quality = quality
        return Sample(self.key, self.value, quality, now)

    def link_failed(self, now_mono: float, stale_after_s: float, now: datetime) -> Sample | None:
        """The link is down: last-usable while younger than stale_after, then a comm error."""
        fresh = (
            self.quality in (Quality.GOOD, Quality.LAST_USABLE)
            and self.last_good_time is not None
            and now_mono - self.last_good_time < stale_after_s
        )
        return self.fail(Quality.LAST_USABLE if fresh else Quality.COMM_ERROR, now)

    def stale_deadline(self, stale_after_s: float) -> float | None:
        """When a last-usable value turns into a comm error (monotonic), if it is pending."""
        if self.quality is not Quality.LAST_USABLE or self.last_good_time is None:
            return None
        return self.last_good_time + stale_after_s

    def _beyond_deadband(self, value: Value) -> bool:
        old = self.value
        if isinstance(value, float) and isinstance(old, float):
            if math.isnan(value) or math.isnan(old):
                return math.isnan(value) != math.isnan(old)
            return abs(value - old) > self.deadband
        if (
            isinstance(value, int | float)
            and isinstance(old, int | float)
            and not isinstance(value, bool)
        ):
            return abs(value - old) > self.deadband
        return value != old or type(value) is not type(old)
