"""The univariate anomaly recipe: the newest sample against its own trailing window.

For an asset with one signal (a temperature, a vibration level), issue #13. Chosen on
synthetic series only (docs/research/nab-univariate.md), frozen: the constants are
module-level and no command changes them.

- features, per window of `WINDOW.length` samples ending at the newest one (step 1):
  `mean`, `std` and `last` of `analytics.features.extract`;
- score `|last - mean| / max(std, floor)`: how many of the window's own standard
  deviations the newest sample lies from the window's mean, NAB's "windowed Gaussian"
  in the form the gateway runs (its memory is the window, nothing else). `floor` is
  `FLOOR_SHARE` times the median window std over the commissioning rows, so a signal
  that sat still for a window cannot turn rounding into an alarm;
- anomalous above `THRESHOLD`, held `HOLD` windows (`Manifest.hold`).

It streams: the score of row t reads rows t - 719 .. t only. The only thing fitted per
asset is the floor, on its commissioning rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from analytics.features import WindowSpec, extract, sliding_windows, window_ends
from analytics.manifest import Manifest, Recipe, TrainingData
from analytics.training.anomaly import RecipeError
from analytics.training.export import ExportError

logger = logging.getLogger(__name__)

UNIVARIATE_RECIPE = "newest-sample-against-its-window"
WINDOW = WindowSpec(720, 1)  # 30 days of hourly samples
KINDS = ("mean", "std", "last")
THRESHOLD = 3.5
HOLD = 24  # windows: one alarm per episode, not one per sample over the threshold
FLOOR_SHARE = 0.5  # of the median commissioning window std
SCORE_RANGE = (0.0, 10.0)  # the OPC UA EURange; scores above it are still published


class WindowZScore(RegressorMixin, BaseEstimator):
    """score = |last - mean| / max(std, floor_) of feature rows (mean, std, last)."""

    def fit(self, X: np.ndarray, y: None = None) -> WindowZScore:
        """The floor: `FLOOR_SHARE` of the median std of the complete rows of X."""
        X = np.asarray(X, dtype=np.float64)
        finite = X[np.isfinite(X).all(axis=1)]
        if X.ndim != 2 or X.shape[1] != len(KINDS) or len(finite) == 0:
            raise RecipeError(f"need complete windows of one signal's {KINDS}, got {X.shape}")
        # A signal that never moved still needs a floor above 0.
        self.floor_ = max(FLOOR_SHARE * float(np.median(finite[:, 1])), 1e-9)
        self.n_features_in_ = len(KINDS)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The score of each row; NaN for a row with a missing value."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        return np.abs(X[:, 2] - X[:, 0]) / np.maximum(X[:, 1], self.floor_)


def _zscore_shape(operator: Any) -> None:
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        raise ExportError("WindowZScore exports in double only")
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])


def _zscore_converter(scope: Any, operator: Any, container: Any) -> None:
    detector: WindowZScore = operator.raw_operator

    def name(base: str) -> str:
        return scope.get_unique_variable_name(base)

    def column(index: int) -> str:
        out, at = name(KINDS[index]), name("at")
        container.add_initializer(at, TensorProto.INT64, [1], [index])
        container.add_node("Gather", [operator.inputs[0].full_name, at], [out], axis=1)
        return out

    mean, std, last = column(0), column(1), column(2)
    floor, deviation, distance, scale = name("floor"), name("dev"), name("dist"), name("scale")
    container.add_initializer(floor, TensorProto.DOUBLE, [1], [detector.floor_])
    container.add_node("Sub", [last, mean], [deviation])
    container.add_node("Abs", [deviation], [distance])
    container.add_node("Max", [std, floor], [scale])
    container.add_node("Div", [distance, scale], [operator.outputs[0].full_name])


# skl2onnx's extension point, filled where the class is defined (as anomaly.EnvelopeScore).
update_registered_converter(WindowZScore, "UvelkaWindowZScore", _zscore_shape, _zscore_converter)


def window_features(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std, last) of every window of one signal's `values` and the row it ends at."""
    series = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return extract(sliding_windows(series, WINDOW), KINDS), window_ends(len(series), WINDOW)


@dataclass(frozen=True, eq=False)
class UnivariateFit:
    """One asset's fitted detector: its signal, the floor and where it was fitted."""

    signal: str
    detector: WindowZScore
    commissioning_rows: int

    def window_scores(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score of every window of the signal's `values` and the row it ends at."""
        features, ends = window_features(values)
        return self.detector.predict(features), ends

    def manifest(
        self, name: str, data: TrainingData, metrics: dict[str, float] | None = None
    ) -> Manifest:
        """The manifest of the exported model."""
        return Manifest(
            kind="anomaly",
            name=name,
            inputs=(self.signal,),
            window=WINDOW,
            feature_kinds=KINDS,
            score_range=SCORE_RANGE,
            threshold=THRESHOLD,
            hold=HOLD,
            data=data,
            seed=0,
            recipe=Recipe(
                UNIVARIATE_RECIPE,
                {
                    "commissioning_rows": self.commissioning_rows,
                    "floor_share": FLOOR_SHARE,
                    "floor": self.detector.floor_,
                    "score": "|last - mean| / max(std, floor) over the window",
                },
            ),
            metrics=metrics or {},
        )


def fit_univariate(commissioning: np.ndarray, signal: str) -> UnivariateFit:
    """Fit the recipe on one signal's commissioning rows (at least one full window)."""
    commissioning = np.asarray(commissioning, dtype=np.float64).reshape(-1)
    if len(commissioning) < WINDOW.length:
        raise RecipeError(
            f"{len(commissioning)} commissioning rows: the univariate recipe's window needs"
            f" {WINDOW.length} (give --commissioning-rows N with N >= {WINDOW.length})"
        )
    features, _ = window_features(commissioning)
    detector = WindowZScore().fit(features)
    logger.debug("univariate floor %g from %d rows", detector.floor_, len(commissioning))
    return UnivariateFit(signal, detector, len(commissioning))
