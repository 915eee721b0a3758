"""The configured assets with their models loaded: scorers for the engine, slots for reload."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.model import GatewayConfig
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.scoring import AssetScorer


@dataclass
class Assets:
    scorers: list[AssetScorer] = field(default_factory=list)

    @property
    def slots(self) -> list[ModelSlot]:
        return [slot for scorer in self.scorers for slot in scorer.slots]


def open_assets(config: GatewayConfig) -> Assets:
    """Load and validate every asset's models (blocking: call it off the event loop).

    The configuration check validated the same files; one changed since raises ModelError.
    """
    models_dir = config.analytics.models_dir
    return Assets([
        AssetScorer(asset, [
            ModelSlot.open(asset, kind, models_dir / file)
            for kind, file in asset.models().items()
        ])
        for asset in config.assets
    ])
