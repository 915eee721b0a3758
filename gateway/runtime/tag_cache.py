"""The latest sample of every tag, fed by the poll loops, read by the asset scorers."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value


class TagCache:
    """Latest value and quality per tag key; a tag never seen is WAITING."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[Value, Quality]] = {}

    def update(self, samples: Sequence[Sample]) -> None:
        latest = self._latest
        for sample in samples:
            latest[sample.key] = (sample.value, sample.quality)

    def get(self, key: str) -> tuple[Value, Quality]:
        return self._latest.get(key, (None, Quality.WAITING))
