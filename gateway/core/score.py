"""One output of an asset's model, as every front end publishes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.core.quality import Quality


@dataclass(frozen=True, slots=True)
class Score:
    """One model output of one asset; `value` is None when the window was Bad."""

    asset: str
    kind: str  # "anomaly" | "rul"
    value: float | None
    anomaly: bool | None  # anomaly models only: the decision, with its hold applied
    quality: Quality
    window_end: datetime  # the SourceTimestamp of the outputs
    scored_at: datetime
    model_version: str
