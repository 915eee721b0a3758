"""A RUL model's prediction interval: Low and High around the point value (issue #13).

The interval is a function of the point prediction p only, so the gateway needs nothing
but the manifest to publish it: below p by `lower(p)`, above it by `upper(p)`, both
piecewise linear between `knots` (levels of p, increasing) and constant beyond the end
knots; Low is never below 0. The recipe calibrates the offsets on out-of-fold predictions
of held-out training runs (analytics.training.rul_calibration) so that the true remaining
life lies in [Low, High] in a share `nominal` of cases.

numpy only: the gateway imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def _row(values: object, what: str) -> tuple[float, ...]:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of numbers (got {values!r})") from None
    if array.ndim != 1 or len(array) == 0 or not np.isfinite(array).all():
        raise ValueError(f"{what} must be a non-empty list of finite numbers (got {values!r})")
    return tuple(float(v) for v in array)


@dataclass(frozen=True, eq=False)
class RulInterval:
    """Offsets below and above the point value by its level, for a `nominal` coverage.

    Validated on construction (ValueError). Stored in the manifest as `rul_interval`.
    """

    nominal: float  # the share of true remaining lives meant to lie in [Low, High]
    knots: tuple[float, ...]  # point values, strictly increasing
    lower: tuple[float, ...]  # Low = p - lower(p), >= 0 at each knot
    upper: tuple[float, ...]  # High = p + upper(p), >= 0 at each knot
    method: str  # how the offsets were calibrated, in words

    def __post_init__(self) -> None:
        nominal = self.nominal
        if (
            isinstance(nominal, bool)
            or not isinstance(nominal, int | float)
            or not (0 < nominal < 1 and math.isfinite(nominal))
        ):
            raise ValueError(f"nominal must be a number between 0 and 1 (got {nominal!r})")
        knots, lower, upper = (
            _row(self.knots, "knots"),
            _row(self.lower, "lower"),
            _row(self.upper, "upper"),
        )
        if not len(knots) == len(lower) == len(upper):
            raise ValueError(
                f"knots, lower and upper must have one value each per knot (got {len(knots)},"
                f" {len(lower)}, {len(upper)})"
            )
        if any(b <= a for a, b in zip(knots, knots[1:], strict=False)):
            raise ValueError(f"knots must be strictly increasing (got {list(knots)})")
        if min(lower) < 0 or min(upper) < 0:
            raise ValueError("lower and upper are distances from the point value: >= 0")
        if not isinstance(self.method, str) or not self.method.strip():
            raise ValueError(f"method must describe the calibration (got {self.method!r})")
        for name, value in (
            ("nominal", float(nominal)),
            ("knots", knots),
            ("lower", lower),
            ("upper", upper),
        ):
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RulInterval):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # equal by value, like RulFeatureSpec

    def bounds(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Low and High per point value (NaN where the point value is NaN)."""
        p = np.asarray(predicted, dtype=np.float64)
        low = np.maximum(p - np.interp(p, self.knots, self.lower), 0.0)
        return low, p + np.interp(p, self.knots, self.upper)

    def to_dict(self) -> dict[str, Any]:
        """JSON values, as stored in the manifest."""
        return {
            "nominal": self.nominal,
            "knots": list(self.knots),
            "lower": list(self.lower),
            "upper": list(self.upper),
            "method": self.method,
        }
