"""Health of one device's link, as SCADA and the web page see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A snapshot published after every poll cycle that changed it."""

    device: str
    connected: bool
    last_error: str
    poll_count: int
    error_count: int
    round_trip_s: float | None
    overruns: int = 0  # poll cycles that ended after the next one was due
    unexpected_errors: int = 0  # failures that were not link or device errors (issue #17)
