"""A candidate model scoring in shadow beside an asset's active model (issue #12).

A shadow scores the asset's windows on the active model's schedule and in the same worker
thread, but in a batch of its own after the active model's: a shadow that fails (raises,
or gives no finite score) is counted and shown in its status, and the active model's
outputs, alarms and OPC UA variables never wait for it or see it. Its outputs go to the
history only, under `<asset>.shadow.<output>` (`shadow_asset`): never to OPC UA, MQTT,
the alarms or notifications.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.config.model import AssetConfig
from gateway.runtime.model_slot import columns_of

if TYPE_CHECKING:
    from analytics.inference import Model

logger = logging.getLogger(__name__)

SHADOW = "shadow"


def shadow_asset(asset: str) -> str:
    """The owner of a shadow's history keys: `<asset>.shadow`, so its outputs are
    `<asset>.shadow.AnomalyScore`, `.Anomaly`, `.RemainingUsefulLife` (with Low, High)."""
    return f"{asset}.{SHADOW}"


class ShadowSlot:
    """The candidate `version` (its archive name) of an asset's `kind` model, in shadow."""

    def __init__(self, asset: AssetConfig, kind: str, version: str, model: Model) -> None:
        self.asset = asset
        self.kind = kind
        self.version = version
        self.model = model
        self.columns = columns_of(asset, model)
        self.key = f"{SHADOW}.{kind}"  # its schedule and hold among the asset's slots
        self.batches = 0
        self.failures = 0
        self.error: str | None = None  # the last failure, until a batch scores again

    @property
    def status(self) -> str:
        if self.error is not None:
            return f"failing: {self.error}"
        return f"shadow: {self.version}"

    def failed(self, error: BaseException) -> None:
        """A batch of this shadow failed: logged when it starts failing, not each time."""
        self.failures += 1
        if self.error is None:
            logger.warning(
                "%s: %s model %s in shadow failed (the active model goes on): %s",
                self.asset.name,
                self.kind,
                self.version,
                error,
            )
        self.error = str(error) or type(error).__name__

    def scored(self) -> None:
        self.batches += 1
        if self.error is not None:
            logger.info(
                "%s: %s model %s in shadow scores again", self.asset.name, self.kind, self.version
            )
            self.error = None
