"""The configured assets with their models loaded: scorers for the engine, files for reload."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.model import GatewayConfig
from gateway.runtime.model_slot import ModelFiles, ModelSlot
from gateway.runtime.scoring import AssetScorer


@dataclass
class Assets:
    files: ModelFiles
    scorers: list[AssetScorer] = field(default_factory=list)

    @property
    def slots(self) -> list[ModelSlot]:
        return [slot for scorer in self.scorers for slot in scorer.slots]


def open_assets(config: GatewayConfig) -> Assets:
    """Load every model file once and give each asset its slots (blocking: off the loop).

    The configuration check validated the same files; one changed since raises ModelError.
    """
    files = ModelFiles()
    models_dir = config.analytics.models_dir
    scorers = []
    for asset in config.assets:
        slots = []
        for kind, file in asset.models().items():
            path = models_dir / file
            slots.append(ModelSlot(asset, kind, path, files.get(path)))
        scorers.append(AssetScorer(asset, slots))
    return Assets(files, scorers)
