"""Asset model outputs as history points (tag samples are recorded as they are:
`History.record_samples`).

Keys are those an alarm's `source` uses: `<device>.<tag>` for a tag, `<asset>.<output>`
for a model output named as its OPC UA variable (gateway.config.sources.ASSET_OUTPUTS).
Scores are stamped with the end of their window, their SourceTimestamp in OPC UA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway.core.score import Score
from gateway.store.history import Point


def score_points(scores: Iterable[Score]) -> Iterator[Point]:
    """A point per output of each score (`Score.outputs`): an anomaly score gives its value
    and decision, a RUL score its value and interval."""
    for score in scores:
        for name, value in score.outputs():
            yield Point(f"{score.asset}.{name}", score.window_end, value, score.quality)
