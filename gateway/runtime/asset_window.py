"""A fixed-size ring buffer of an asset's input rows, with their quality and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from gateway.core.quality import Quality

_NEVER = datetime.min.replace(tzinfo=UTC)  # placeholder time of a slot not yet written


@dataclass(frozen=True, slots=True)
class Window:
    """The newest `length` rows, oldest first; quality is the worst of them."""

    values: np.ndarray  # (length, n_signals) float64, NaN where an input had no usable value
    quality: Quality
    end_time: datetime


class AssetWindow:
    """Rows appended at the asset's sampling interval; the newest `capacity` are kept."""

    def __init__(self, capacity: int, n_signals: int) -> None:
        self._values = np.full((capacity, n_signals), np.nan)
        self._quality = np.full(capacity, int(Quality.WAITING), dtype=np.int8)
        self._times: list[datetime] = [_NEVER] * capacity
        self._capacity = capacity
        self._next = 0
        self.rows = 0  # rows appended so far, ever

    def append(self, values: np.ndarray, quality: Quality, time: datetime) -> None:
        slot = self._next
        self._values[slot] = values
        self._quality[slot] = int(quality)
        self._times[slot] = time
        self._next = (slot + 1) % self._capacity
        self.rows += 1

    @property
    def capacity(self) -> int:
        return self._capacity

    def grow(self, capacity: int) -> None:
        """Keep up to `capacity` rows from now on, the rows held so far kept in order: a
        model taken at run time may need a longer window than the buffer was made for
        (a slot without a model at start, issue #17). Never shrinks."""
        if capacity <= self._capacity:
            return
        kept = min(self.rows, self._capacity)
        index = np.arange(self._next - kept, self._next) % self._capacity
        values = np.full((capacity, self._values.shape[1]), np.nan)
        values[:kept] = self._values[index]
        quality = np.full(capacity, int(Quality.WAITING), dtype=np.int8)
        quality[:kept] = self._quality[index]
        times = [_NEVER] * capacity
        times[:kept] = [self._times[i] for i in index]
        self._values, self._quality, self._times = values, quality, times
        self._capacity = capacity
        self._next = kept

    def rows_after(self, time: datetime) -> np.ndarray:
        """The rows held that were appended after `time`, oldest first: what a restarted
        RUL commissioning learns from when its maintenance entry ended a while ago."""
        kept = min(self.rows, self._capacity)
        index = np.arange(self._next - kept, self._next) % self._capacity
        return self._values[[i for i in index if self._times[i] > time]]

    def latest(self, length: int) -> Window | None:
        """The newest `length` rows, or None while fewer have been appended."""
        if self.rows < length:
            return None
        index = (np.arange(self._next - length, self._next)) % self._capacity
        return Window(
            values=self._values[index],
            quality=Quality(int(self._quality[index].max())),
            end_time=self._times[index[-1]],
        )
