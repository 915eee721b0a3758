"""The latest score of each asset's models, for the web page and the MQTT asset states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.core.score import Score


class ScoreCache:
    """The newest score per asset and model kind; an asset never scored has none."""

    def __init__(self) -> None:
        self._latest: dict[str, dict[str, Score]] = {}

    def update(self, scores: Sequence[Score]) -> None:
        for score in scores:
            self._latest.setdefault(score.asset, {})[score.kind] = score

    def of(self, asset: str) -> Mapping[str, Score]:
        """`asset`'s newest score by model kind ("anomaly", "rul")."""
        return self._latest.get(asset, {})
