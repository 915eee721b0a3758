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
    # RUL models: Low and High of `value` for the model's nominal coverage (issue #13);
    # None when `value` is None or the model file has no interval (trained before it).
    interval: tuple[float, float] | None = None

    def outputs(self) -> tuple[tuple[str, float | bool | None], ...]:
        """The asset outputs this score sets, named as their OPC UA variables. RUL: Low
        and High too when known; a Bad window's missing value is on RemainingUsefulLife
        alone, and a model without an interval gives neither (none is made up)."""
        if self.kind == "anomaly":
            return ("AnomalyScore", self.value), ("Anomaly", self.anomaly)
        if self.interval is None:
            return (("RemainingUsefulLife", self.value),)
        low, high = self.interval
        return (
            ("RemainingUsefulLife", self.value),
            ("RemainingUsefulLifeLow", low),
            ("RemainingUsefulLifeHigh", high),
        )
