"""A value with its quality and the time it was observed at the source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.core.quality import Quality

Value = bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of a tag; `source_time` is aware UTC, the arrival of the response."""

    key: str
    value: Value
    quality: Quality
    source_time: datetime
