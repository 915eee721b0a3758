"""The latest sample of every tag, fed by the poll loops, read by the asset scorers and
the web page."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value

_key = attrgetter("key")


class TagCache:
    """Latest value and quality per tag key; a tag never seen is WAITING."""

    def __init__(self) -> None:
        self._latest: dict[str, Sample] = {}

    def update(self, samples: Sequence[Sample]) -> None:
        # One C-level pass (zip of the keys and the samples), no Python step per sample.
        self._latest.update(zip(map(_key, samples), samples, strict=True))

    def get(self, key: str) -> tuple[Value, Quality]:
        sample = self._latest.get(key)
        return (None, Quality.WAITING) if sample is None else (sample.value, sample.quality)

    def latest(self, key: str) -> Sample | None:
        """The newest sample of `key`, with its source time; None before the first."""
        return self._latest.get(key)
