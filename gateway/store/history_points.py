"""Asset model outputs as history points (tag samples are recorded as they are:
`History.record_samples`).

Keys are those an alarm's `source` uses: `<device>.<tag>` for a tag, `<asset>.<output>`
for a model output named as its OPC UA variable (gateway.config.sources.ASSET_OUTPUTS).
Scores are stamped with the end of their window, their SourceTimestamp in OPC UA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway.config.sources import ASSET_OUTPUTS
from gateway.core.score import Score
from gateway.store.history import Point

# Output names per model kind, with whether the output is the decision (a bool).
_OUTPUTS: dict[str, list[tuple[str, bool]]] = {
    kind: [(name, output.boolean) for name, output in ASSET_OUTPUTS.items()
           if output.model_kind == kind]
    for kind in {output.model_kind for output in ASSET_OUTPUTS.values()}
}


def score_points(scores: Iterable[Score]) -> Iterator[Point]:
    """A point per output of each score: an anomaly score gives its value and decision."""
    for score in scores:
        for name, boolean in _OUTPUTS.get(score.kind, ()):
            value = score.anomaly if boolean else score.value
            yield Point(f"{score.asset}.{name}", score.window_end, value, score.quality)
