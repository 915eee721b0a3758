"""Anomaly recipes: the envelope of window means (unsupervised) and a labelled classifier.

The default recipe, "envelope of window means" (docs/research/skab-anomaly.md, frozen):

- feature: per-signal mean over a causal window of 15 samples, step 1 (`extract`, kind
  "mean"); the window of row t ends at row t;
- fit, per asset, on its commissioning rows only (the first 400): `centre_j` = median of
  the window means, `spread_j` = their largest distance from it (floored for a constant
  signal);
- drift allowance `c_j` from reference normal data (long normal recordings of the same
  kind of plant, not the asset's own): simulated commissionings every 50 rows, each fitted
  on 400 rows and judged on the next 800 by the 90 % quantile of |mean - centre| / spread;
  `c_j` is the median over them. Without a reference long enough, `c_j` = 1;
- inputs: every signal except those whose allowance exceeds the threshold (`DRIFT_LIMIT`):
  a signal that drifts in normal operation further than the alarm margin of commissioning
  spreads cannot be judged by its commissioning envelope; or the signals given explicitly;
- score `max_j |mean_j - centre_j| / (c_j * spread_j)`, anomalous above 3.0, the decision
  held for 20 windows after the score falls back (`Manifest.hold`).

The score is an `EnvelopeScore`, a scikit-learn regressor with its own skl2onnx converter
(Sub, Div, Abs, ReduceMax in double), so `export.export_onnx` and `export.verify` treat it
like any other model.

The supervised variant (`fit_labelled`) trains a gradient-boosting classifier on window
features of labelled recordings; its score is P(anomaly) and its threshold the one that
maximises out-of-fold F1 (folds = recordings). Not HistGradientBoosting: skl2onnx passes
booleans into its integer attributes, which protobuf 6.33 deprecates and 7 rejects, and
its OpenMP threads crawl on a busy 2-core machine (0.1 s became 8 s here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from analytics.evaluation.metrics import Confusion
from analytics.features import WindowSpec, extract, sliding_windows, window_ends
from analytics.manifest import Manifest, Recipe, TrainingData
from analytics.training.datasets import Recording
from analytics.training.export import ExportError

logger = logging.getLogger(__name__)

ENVELOPE_RECIPE = "envelope-of-window-means"
COMMISSIONING_ROWS = 400  # the SKAB protocol's training part: an asset's commissioning
WINDOW = WindowSpec(15, 1)
ENVELOPE_KINDS = ("mean",)
THRESHOLD = 3.0
HOLD = 20  # windows (= samples at step 1): 21 quiet windows end an anomaly
SCORE_RANGE = (0.0, 10.0)  # the OPC UA EURange; scores above it are still published
DRIFT_HORIZON = 800  # rows after a simulated commissioning that judge its envelope
DRIFT_STRIDE = 50  # rows between simulated commissionings in the reference
DRIFT_QUANTILE = 0.9
# A signal whose normal drift reaches the alarm margin (in commissioning spreads) is
# dominated by slow drift: its commissioning envelope says nothing about it.
DRIFT_LIMIT = THRESHOLD
# Below a tenth of its commissioning spread a reference calls a signal constant; the
# floor also keeps c_j * spread_j > 0 for a signal that never moved.
ALLOWANCE_FLOOR = 0.1
SPREAD_FLOOR_REL = 1e-6  # spread >= 1e-6 * max(|centre|, 1): a constant signal

LABELLED_RECIPE = "gradient-boosting-on-labelled-windows"
LABELLED_KINDS = ("mean", "std", "min", "max", "slope")
LABELLED_FOLDS = 5
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


class RecipeError(ValueError):
    """The data cannot train the recipe (too short, no finite windows, unknown signal)."""


class EnvelopeScore(RegressorMixin, BaseEstimator):
    """score = max_j |x_j - centre_j| / (allowance_j * spread_j) of window means x.

    `fit` takes the window means of the commissioning rows; `allowance` (one per column,
    default 1) widens each signal's envelope by its drift allowance.
    """

    def __init__(self, allowance: np.ndarray | None = None) -> None:
        self.allowance = allowance

    def fit(self, X: np.ndarray, y: None = None) -> EnvelopeScore:
        """Centre (median) and spread (largest distance) of the finite rows of X."""
        X = np.asarray(X, dtype=np.float64)
        finite = X[np.isfinite(X).all(axis=1)]
        if len(finite) == 0:
            raise RecipeError("no complete window to fit the envelope on")
        allowance = np.ones(X.shape[1]) if self.allowance is None else self.allowance
        if np.shape(allowance) != (X.shape[1],) or not (np.asarray(allowance) > 0).all():
            raise RecipeError(f"need one allowance > 0 per column, got {allowance!r}")
        self.centre_ = np.median(finite, axis=0)
        floor = SPREAD_FLOOR_REL * np.maximum(np.abs(self.centre_), 1.0)
        self.spread_ = np.maximum(np.abs(finite - self.centre_).max(axis=0), floor)
        self.scale_ = np.asarray(allowance, dtype=np.float64) * self.spread_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The score of each row; NaN for a row with a missing value."""
        check_is_fitted(self)
        return (np.abs(np.asarray(X, dtype=np.float64) - self.centre_) / self.scale_).max(axis=1)


def _envelope_shape(operator: Any) -> None:
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        raise ExportError("EnvelopeScore exports in double only (its constants are float64)")
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])


def _envelope_converter(scope: Any, operator: Any, container: Any) -> None:
    envelope: EnvelopeScore = operator.raw_operator
    n = envelope.n_features_in_

    def name(base: str) -> str:
        return scope.get_unique_variable_name(base)

    centre, scale, axes = name("centre"), name("scale"), name("axes")
    container.add_initializer(centre, TensorProto.DOUBLE, [n], envelope.centre_.tolist())
    container.add_initializer(scale, TensorProto.DOUBLE, [n], envelope.scale_.tolist())
    container.add_initializer(axes, TensorProto.INT64, [1], [1])
    deviation, z, distance = name("deviation"), name("z"), name("distance")
    container.add_node("Sub", [operator.inputs[0].full_name, centre], [deviation])
    container.add_node("Div", [deviation, scale], [z])
    container.add_node("Abs", [z], [distance])
    # Opset 18 takes the axes as an input; export's TARGET_OPSET is 18.
    container.add_node(
        "ReduceMax", [distance, axes], [operator.outputs[0].full_name], op_version=18, keepdims=1
    )


# skl2onnx's documented extension point: a table from estimator class to converter. It
# belongs to the class, so it is filled where the class is defined; nothing else changes.
update_registered_converter(
    EnvelopeScore, "UvelkaEnvelopeScore", _envelope_shape, _envelope_converter
)


def window_means(values: np.ndarray, window: WindowSpec = WINDOW) -> np.ndarray:
    """The recipe's feature: mean of every window (default `WINDOW`), (n_windows, n_signals)."""
    return extract(sliding_windows(values, window), ENVELOPE_KINDS)


@dataclass(frozen=True, eq=False)
class DriftAllowance:
    """Per-signal drift allowance c_j and where it came from."""

    signals: tuple[str, ...]
    values: np.ndarray | None  # c_j per signal; None: no reference data long enough
    commissionings: int  # simulated commissionings c_j is the median over
    reference_rows: int
    commissioning_rows: int = COMMISSIONING_ROWS  # of each simulated commissioning

    def of(self, signal: str) -> float:
        """c_j of one signal (1.0 without a reference)."""
        if self.values is None:
            return 1.0
        return float(self.values[self.signals.index(signal)])

    def describe(self) -> str:
        """One line for the terminal and the manifest."""
        if self.values is None:
            return (
                f"1 for every signal: no reference normal data of at least"
                f" {self.commissioning_rows + DRIFT_HORIZON} complete rows"
                f" ({self.reference_rows} rows given)"
            )
        return (
            f"median over {self.commissionings} simulated commissionings in"
            f" {self.reference_rows} rows of reference normal data"
        )


def drift_allowance(
    reference: Sequence[np.ndarray],
    signals: Sequence[str],
    commissioning_rows: int = COMMISSIONING_ROWS,
    *,
    window: WindowSpec = WINDOW,
    progress: bool = False,
) -> DriftAllowance:
    """c_j from reference normal recordings (columns = `signals`), see the module docstring.

    A simulated commissioning whose rows hold a missing value is skipped. `window` is the
    one of the window means (step 1); the nested protocol tries other lengths (issue #13).
    """
    if commissioning_rows < window.length or window.step != 1:
        raise RecipeError(
            f"{commissioning_rows} commissioning rows, window {window}: the window needs"
            f" at least {window.length} rows and step 1"
        )
    fitted = commissioning_rows - window.length + 1  # windows inside the commissioning
    # means[k] is the window ending at row k + length - 1: a run starting at row `start`
    # fits on means[start : start + fitted] and is judged on the next DRIFT_HORIZON.
    runs = [
        (means, start)
        for values, means in zip(
            reference, (window_means(v, window) for v in reference), strict=True
        )
        for start in range(0, len(values) - commissioning_rows - DRIFT_HORIZON + 1, DRIFT_STRIDE)
    ]
    quantiles = []
    for means, start in tqdm(runs, desc="drift allowance", unit="run", disable=not progress):
        run = means[start : start + fitted + DRIFT_HORIZON]
        if not np.isfinite(run).all():
            continue
        envelope = EnvelopeScore().fit(run[:fitted])
        deviation = np.abs(run[fitted:] - envelope.centre_) / envelope.spread_
        quantiles.append(np.quantile(deviation, DRIFT_QUANTILE, axis=0))
    rows = sum(len(values) for values in reference)
    if not quantiles:
        return DriftAllowance(tuple(signals), None, 0, rows, commissioning_rows)
    allowance = np.maximum(np.median(np.array(quantiles), axis=0), ALLOWANCE_FLOOR)
    return DriftAllowance(tuple(signals), allowance, len(quantiles), rows, commissioning_rows)


def select_inputs(
    allowance: DriftAllowance, chosen: Sequence[str] | None = None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The model's inputs, in data order, and why each other signal was left out.

    `chosen` overrides the rule (its order is kept). The rule: leave out a signal whose
    drift allowance exceeds `DRIFT_LIMIT`; without a reference every signal is kept.
    """
    signals = allowance.signals
    if chosen is not None:
        unknown = [s for s in chosen if s not in signals]
        if unknown:
            raise RecipeError(f"unknown signal(s) {unknown}; the data has {list(signals)}")
        if len(set(chosen)) != len(chosen) or not chosen:
            raise RecipeError(f"give each signal once, and at least one (got {list(chosen)})")
        return tuple(chosen), {s: "not chosen (--signals)" for s in signals if s not in chosen}
    excluded = {
        s: f"drift allowance {allowance.of(s):.2f} > {DRIFT_LIMIT:g}: slow drift dominates it"
        for s in signals
        if allowance.of(s) > DRIFT_LIMIT
    }
    inputs = tuple(s for s in signals if s not in excluded)
    if not inputs:
        raise RecipeError(f"every signal drifts beyond the limit: {excluded}")
    return inputs, excluded


@dataclass(frozen=True, eq=False)
class EnvelopeFit:
    """One asset's fitted envelope: its inputs, detector and how they were chosen."""

    signals: tuple[str, ...]  # the data's columns
    inputs: tuple[str, ...]  # the model's inputs, in feature order
    excluded: dict[str, str]
    allowance: DriftAllowance
    detector: EnvelopeScore
    commissioning_rows: int

    def window_scores(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score of every window of `values` (columns = `signals`) and the row it ends at."""
        columns = [self.signals.index(s) for s in self.inputs]
        scores = self.detector.predict(window_means(np.asarray(values)[:, columns]))
        return scores, window_ends(len(values), WINDOW)

    def recipe(self) -> Recipe:
        """Name and parameters for the manifest, including the allowance and selection."""
        return Recipe(
            ENVELOPE_RECIPE,
            {
                "commissioning_rows": self.commissioning_rows,
                "drift_horizon": DRIFT_HORIZON,
                "drift_stride": DRIFT_STRIDE,
                "drift_quantile": DRIFT_QUANTILE,
                "drift_limit": DRIFT_LIMIT,
                "allowance": {s: self.allowance.of(s) for s in self.signals},
                "allowance_source": self.allowance.describe(),
                "excluded": dict(self.excluded),
                "centre": dict(zip(self.inputs, self.detector.centre_.tolist(), strict=True)),
                "spread": dict(zip(self.inputs, self.detector.spread_.tolist(), strict=True)),
            },
        )

    def manifest(
        self, name: str, data: TrainingData, metrics: dict[str, float] | None = None
    ) -> Manifest:
        """The manifest of the exported model."""
        return Manifest(
            kind="anomaly",
            name=name,
            inputs=self.inputs,
            window=WINDOW,
            feature_kinds=ENVELOPE_KINDS,
            score_range=SCORE_RANGE,
            threshold=THRESHOLD,
            hold=HOLD,
            data=data,
            seed=0,
            recipe=self.recipe(),
            metrics=metrics or {},
        )


def fit_envelope(
    commissioning: np.ndarray,
    allowance: DriftAllowance,
    chosen: Sequence[str] | None = None,
) -> EnvelopeFit:
    """Fit the envelope on an asset's commissioning rows (columns = `allowance.signals`).

    This is the recipe `uvelka train anomaly` runs and `uvelka evaluate anomaly` runs per
    file: one code path.
    """
    commissioning = np.asarray(commissioning, dtype=np.float64)
    signals = allowance.signals
    if commissioning.ndim != 2 or commissioning.shape[1] != len(signals):
        raise RecipeError(
            f"commissioning rows must be (n, {len(signals)}) for {list(signals)},"
            f" got {commissioning.shape}"
        )
    if len(commissioning) < WINDOW.length:
        raise RecipeError(
            f"{len(commissioning)} commissioning rows: the window needs {WINDOW.length}"
        )
    inputs, excluded = select_inputs(allowance, chosen)
    columns = [signals.index(s) for s in inputs]
    scale = np.array([allowance.of(s) for s in inputs])
    detector = EnvelopeScore(allowance=scale).fit(window_means(commissioning[:, columns]))
    logger.debug("envelope fitted on %d rows, inputs %s", len(commissioning), inputs)
    return EnvelopeFit(signals, inputs, excluded, allowance, detector, len(commissioning))


@dataclass(frozen=True, eq=False)
class LabelledFit:
    """The supervised detector: a classifier of windows, its threshold and its CV result."""

    inputs: tuple[str, ...]
    classifier: GradientBoostingClassifier
    threshold: float
    validation: Confusion  # out-of-fold windows at `threshold`
    folds: int
    seed: int

    def manifest(self, name: str, data: TrainingData) -> Manifest:
        """The manifest of the exported model; metrics are the out-of-fold ones."""
        return Manifest(
            kind="anomaly",
            name=name,
            inputs=self.inputs,
            window=WINDOW,
            feature_kinds=LABELLED_KINDS,
            score_range=(0.0, 1.0),
            threshold=self.threshold,
            data=data,
            seed=self.seed,
            recipe=Recipe(
                LABELLED_RECIPE,
                {
                    "classifier": "GradientBoostingClassifier",
                    "params": _classifier_params(self.seed),
                    "folds": self.folds,
                    "threshold_rule": "max out-of-fold F1 over 0.05, 0.10, .. 0.95",
                },
            ),
            metrics={f"cv_{k}": v for k, v in self.validation.rates().items()},
        )


def labelled_windows(
    recordings: Sequence[Recording], inputs: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and recording index of every complete window.

    A window's label is the one of its last row.
    """
    blocks, labels, groups = [], [], []
    for index, recording in enumerate(recordings):
        if recording.labels is None:
            raise RecipeError(f"{recording.name}: no 'anomaly' column to learn from")
        features, ends = labelled_features(recording, inputs)
        complete = np.isfinite(features).all(axis=1)
        blocks.append(features[complete])
        labels.append(recording.labels[ends][complete])
        groups.append(np.full(int(complete.sum()), index))
    return np.concatenate(blocks), np.concatenate(labels), np.concatenate(groups)


def labelled_features(recording: Recording, inputs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The supervised recipe's features of every window of `recording` (NaN where a window
    is incomplete) and the row each window ends at."""
    columns = [recording.signals.index(s) for s in inputs]
    features = extract(sliding_windows(recording.values[:, columns], WINDOW), LABELLED_KINDS)
    return features, window_ends(len(recording.values), WINDOW)


def class_blocks(y: np.ndarray, folds: int) -> np.ndarray:
    """Fold numbers for the windows of one recording: each class's windows, in time order,
    cut into `folds` contiguous blocks, block k of both classes in fold k.

    Blocks of the whole recording would leave a fold without anomalies to learn from
    whenever the anomalous windows lie in one block, as one fault in an asset's history
    does (issue #12); per class, every fold keeps most of both classes and still holds
    out contiguous spans, never shuffled windows.
    """
    groups = np.empty(len(y), dtype=int)
    for label in (False, True):
        (members,) = np.nonzero(y == label)
        groups[members] = np.arange(len(members)) * folds // max(len(members), 1)
    return groups


def fit_labelled(
    recordings: Sequence[Recording],
    chosen: Sequence[str] | None = None,
    seed: int = 0,
    *,
    progress: bool = False,
) -> LabelledFit:
    """Train the supervised detector on labelled recordings (all signals, or `chosen`)."""
    if not recordings:
        raise RecipeError("no labelled recordings to learn from")
    signals = recordings[0].signals
    inputs = tuple(chosen) if chosen is not None else signals
    unknown = [s for s in inputs if s not in signals]
    if unknown or not inputs or len(set(inputs)) != len(inputs):
        raise RecipeError(f"signals {list(inputs)}: each once, from {list(signals)}")
    X, y, groups = labelled_windows(recordings, inputs)
    if y.all() or not y.any():
        raise RecipeError("the labels need both normal and anomalous windows")
    # Folds are whole recordings, so the threshold is chosen on data the classifier did
    # not see; one recording is cut into contiguous blocks instead.
    if len(recordings) == 1:
        groups = class_blocks(y, LABELLED_FOLDS)
    folds = min(LABELLED_FOLDS, len(np.unique(groups)))
    if folds < 2:
        raise RecipeError("too few windows to validate the threshold")
    out_of_fold = np.empty(len(y))
    splits = GroupKFold(n_splits=folds).split(X, y, groups)
    for train, held in tqdm(splits, desc="validation folds", total=folds, disable=not progress):
        if y[train].all() or not y[train].any():
            raise RecipeError(
                "a validation fold has only one class to learn from: "
                + (
                    f"{int(y.sum())} anomalous windows are too few to hold some out in"
                    " every fold: label a longer range"
                    if len(recordings) == 1
                    else "label anomalies (and normal rows) in more than one recording"
                )
            )
        fold = _classifier(seed).fit(X[train], y[train])
        out_of_fold[held] = fold.predict_proba(X[held])[:, 1]
    confusions = {t: Confusion.of(y, out_of_fold > t) for t in THRESHOLD_GRID}
    # Max F1, ties to the lower threshold (fewer misses); F1 is defined: y has anomalies.
    threshold = max(THRESHOLD_GRID, key=lambda t: (confusions[t].f1 or 0.0, -t))
    classifier = _classifier(seed).fit(X, y)
    return LabelledFit(inputs, classifier, threshold, confusions[threshold], folds, seed)


def _classifier_params(seed: int) -> dict[str, Any]:
    return {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "random_state": seed}


def _classifier(seed: int) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(**_classifier_params(seed))
