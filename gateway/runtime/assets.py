"""The configured assets with their models loaded: scorers for the engine, files for reload.

A gateway without assets imports neither the scorers (numpy, the features) nor the model
runtime (onnxruntime): ~15 MiB and ~0.3 s of every start (issue #10). Their modules come
with the first asset (`open_assets`) and the first model file (`ModelFiles.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analytics.model_file import CheckLimits
from gateway.config.model import GatewayConfig
from gateway.runtime.model_slot import ModelFiles, ModelSlot

if TYPE_CHECKING:
    from gateway.runtime.scoring import AssetScorer


@dataclass
class Assets:
    files: ModelFiles
    scorers: list[AssetScorer] = field(default_factory=list)

    @property
    def slots(self) -> list[ModelSlot]:
        return [slot for scorer in self.scorers for slot in scorer.slots]


async def open_assets(config: GatewayConfig) -> Assets:
    """Check and load every model file once and give each asset its slots.

    The configuration check only loaded the files; their first inference runs here, in a
    bounded child process (issue #17). A file that fails it, or fails to load (changed
    since the check), leaves its slots without a model: the gateway starts all the same.
    """
    analytics = config.analytics
    files = ModelFiles(CheckLimits(analytics.check_timeout, analytics.check_memory_mib))
    if not config.assets:
        return Assets(files)
    from gateway.runtime.scoring import AssetScorer  # noqa: PLC0415 (numpy: see above)

    scorers = []
    for asset in config.assets:
        slots = []
        for kind, file in asset.models().items():
            path = analytics.models_dir / file
            slots.append(ModelSlot(asset, kind, path, await files.get(path)))
        scorers.append(AssetScorer(asset, slots))
    return Assets(files, scorers)
