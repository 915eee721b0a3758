"""The RUL recipe: gradient boosting on buffer features (docs/research/cmapss-rul.md, frozen).

- data: run-to-failure trajectories, each run's samples in time order from its start
  (`RunData`: a C-MAPSS training file, or CSV recordings with a run column);
- operating conditions: rows whose condition inputs (C-MAPSS's settings) agree within
  `SETTING_TOLERANCE` on every input form one condition, leader clustering over the
  distinct rows; conditions under `MIN_CONDITION_SHARE` of the rows are dropped and their
  rows join the nearest one; centres are the member means. No condition inputs: one;
- normalisation: per condition, z-score of each signal, std floored at the signal's
  resolution (smallest step between its distinct values);
- inputs: every candidate signal with at least `MIN_DISTINCT` distinct values and a
  pooled within-condition std of at least `MIN_SPREAD` times its resolution (or the
  signals given); condition inputs are model inputs only with more than one condition;
- features: `analytics.rul_features` over the newest 100 samples (all rows from cycle 1,
  so short histories are trained on too), baseline of the first 20;
- target: min(remaining life, cap), negative remaining life counted as 0;
- model: HistGradientBoostingRegressor with `HGB_PARAMS`, deterministic; no early stopping
  (its validation split is by row, not by run).

The model is a `RulRegressor`, exported by its own converter as one TreeEnsembleRegressor
(ai.onnx.ml opset 3) with double thresholds: skl2onnx's own HistGradientBoosting converter
emits an opset onnxruntime rejects for double input, and in float32 it differs by cycles.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analytics.features import WindowSpec
from analytics.manifest import Manifest, Recipe, TrainingData
from analytics.rul_features import RulFeatureSpec, nearest_condition, rul_series_features
from analytics.rul_interval import RulInterval
from analytics.training.anomaly import RecipeError
from analytics.training.datasets import (
    CMAPSS_SENSORS,
    CMAPSS_SETTINGS,
    DatasetError,
    Recording,
    Runs,
)
from analytics.training.export import ExportError
from analytics.training.tree_ensemble import Tree, tree_ensemble_attributes

logger = logging.getLogger(__name__)

RECIPE = "gradient-boosting-on-buffer-features"
CAP = 125.0  # piece-wise linear target (the C-MAPSS protocol), in the output unit
SETTING_TOLERANCE = 0.05  # condition inputs agreeing within this (absolute) share a condition
MIN_CONDITION_SHARE = 0.01  # smaller clusters are not normalised on their own
MIN_DISTINCT = 3  # a signal needs at least this many distinct values ...
MIN_SPREAD = 0.5  # ... and a within-condition std of at least this x its resolution
HGB_PARAMS: dict[str, Any] = {
    "max_iter": 800,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
# OpenMP threads for fitting and predicting: on a busy 2-core machine more threads than
# one spin against the other work and get slower, not faster (an 0.1 s fit took 8 s).
TRAINING_THREADS = 1
# Trees per fit call: boosting in chunks (warm start) drives the progress bar; it grows
# exactly the trees of one call (a test checks it), for ~10 % more time.
BOOSTING_CHUNK = 200

RUN_COLUMNS = ("run", "unit")  # a CSV's run id column, the first one present
# Seconds per output unit of time; "cycles" counts samples.
TIME_UNITS: dict[str, float] = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
UNITS = ("cycles", *TIME_UNITS)
_SECOND = np.timedelta64(1, "s")


def is_truth_column(name: str) -> bool:
    """A column that holds the answer, never an input: `remaining_*` or `rul*`."""
    lowered = name.lower()
    return lowered.startswith(("remaining_", "rul"))


@dataclass(frozen=True, eq=False)
class RunData:
    """Run-to-failure trajectories in one table: what the recipe trains on.

    Each run's rows are together and in time order from the run's start (its
    commissioning): row i of a run is its cycle i + 1.
    """

    source: str
    columns: tuple[str, ...]
    values: np.ndarray  # float64 (n_rows, n_columns); NaN = missing sample
    runs: np.ndarray  # int64 (n_rows,) run index, 0 .. n_runs - 1, in order
    remaining: np.ndarray  # float64 (n_rows,) remaining life in `unit`, uncapped; NaN unknown
    unit: str
    conditions: tuple[str, ...] = ()  # columns that set the operating condition
    left_out: dict[str, str] | None = None  # columns that are never inputs, with the reason
    sample_period_s: float | None = None  # None: a sample is a cycle

    @property
    def candidates(self) -> tuple[str, ...]:
        """Columns the recipe may choose signals from."""
        left_out = self.left_out or {}
        return tuple(c for c in self.columns if c not in self.conditions and c not in left_out)

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return int(self.runs[-1]) + 1 if len(self.runs) else 0

    def by_run(self) -> Iterator[slice]:
        """The rows of each run, in order."""
        starts = np.flatnonzero(np.r_[True, self.runs[1:] != self.runs[:-1]])
        ends = np.r_[starts[1:], len(self.runs)]
        for start, end in zip(starts, ends, strict=True):
            yield slice(int(start), int(end))

    def subset(self, keep: np.ndarray) -> RunData:
        """The runs where `keep` (boolean, one per run) is true, renumbered in order."""
        rows = np.asarray(keep, dtype=bool)[self.runs]
        _, runs = np.unique(self.runs[rows], return_inverse=True)
        return replace(
            self,
            source=f"{self.source} ({int(np.count_nonzero(keep))} of {self.n_runs} runs)",
            values=self.values[rows],
            runs=runs.astype(np.int64),
            remaining=self.remaining[rows],
        )

    def column_values(self, names: Sequence[str]) -> np.ndarray:
        """The values of `names`, in that order (n_rows, len(names))."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise DatasetError(f"{self.source}: no column(s) {missing}")
        return self.values[:, [self.columns.index(n) for n in names]]


def cmapss_runs(runs: Runs, source: str) -> RunData:
    """A C-MAPSS file as run data: sensors are candidates, settings the condition inputs."""
    codes = np.zeros(len(runs.units), dtype=np.int64)
    for index, (_, rows) in enumerate(runs.by_unit()):
        codes[rows] = index
    return RunData(
        source=source,
        columns=(*CMAPSS_SENSORS, *CMAPSS_SETTINGS),
        values=np.hstack((runs.sensors, runs.settings)),
        runs=codes,
        remaining=runs.remaining_cycles().astype(np.float64),
        unit="cycles",
        conditions=CMAPSS_SETTINGS,
    )


def recording_runs(
    recordings: Sequence[Recording],
    root: Path,
    *,
    target_column: str | None = None,
    unit: str = "h",
) -> RunData:
    """CSV recordings as run data (all with the same columns).

    Runs: the `run` (else `unit`) column, each run's rows together; without one, each file
    is a run. Target: `target_column` (already in `unit`), else the time from the row to
    its run's last row in `unit` ("cycles": rows). Never inputs: the run column, the
    target, and truth columns (`is_truth_column`).
    """
    if unit not in UNITS:
        raise RecipeError(f"unit {unit!r}: one of {', '.join(UNITS)}")
    if not recordings:
        raise DatasetError(f"{root}: no recordings")
    columns = recordings[0].signals
    run_column = next((c for c in RUN_COLUMNS if c in columns), None)
    if target_column is not None and target_column not in columns:
        raise DatasetError(f"{root}: no target column {target_column!r} (columns: {list(columns)})")
    left_out = {c: "ground truth of the remaining life" for c in columns if is_truth_column(c)}
    if run_column is not None:
        left_out[run_column] = "identifies the run"
    if target_column is not None:
        left_out[target_column] = "the target"
    values, runs, remaining, periods = [], [], [], []
    next_run = 0
    for recording in recordings:
        where = root / recording.name
        ids = _run_ids(recording, where, run_column)
        codes = np.empty(len(ids), dtype=np.int64)
        left = np.empty(len(ids))  # to the run's last row: seconds, or rows for "cycles"
        for rows in _contiguous(ids, where):
            codes[rows] = next_run
            next_run += 1
            seconds = (recording.timestamps[rows] - recording.timestamps[rows.start]) / _SECOND
            periods.append(np.diff(seconds))
            rows_left = np.arange(len(seconds))[::-1]
            left[rows] = rows_left if unit == "cycles" else seconds[-1] - seconds
        if target_column is not None:
            target = recording.values[:, columns.index(target_column)]
        else:
            target = left / TIME_UNITS.get(unit, 1.0)
        values.append(recording.values)
        runs.append(codes)
        remaining.append(target)
    gaps = np.concatenate(periods)
    return RunData(
        source=(
            str(root / recordings[0].name)
            if len(recordings) == 1
            else f"{root}: {len(recordings)} recordings"
        ),
        columns=columns,
        values=np.vstack(values),
        runs=np.concatenate(runs),
        remaining=np.concatenate(remaining).astype(np.float64),
        unit=unit,
        left_out=left_out,
        sample_period_s=float(np.median(gaps)) if gaps.size else None,
    )


def _run_ids(recording: Recording, where: Path, run_column: str | None) -> np.ndarray:
    if run_column is None:
        return np.zeros(len(recording.values))
    ids = recording.values[:, recording.signals.index(run_column)]
    missing = np.flatnonzero(~np.isfinite(ids))
    if missing.size:
        raise DatasetError(f"{where}: data row {missing[0] + 1} has no {run_column!r}")
    return ids


def _contiguous(ids: np.ndarray, where: Path) -> Iterator[slice]:
    """Slices of equal consecutive ids; an id seen before another one again is an error."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    seen: set[float] = set()
    for start, end in zip(starts, ends, strict=True):
        run = float(ids[start])
        if run in seen:
            raise DatasetError(
                f"{where}: run {run:g} again at data row {start + 1} after other runs;"
                " each run's rows must be together"
            )
        seen.add(run)
        yield slice(int(start), int(end))


def operating_conditions(settings: np.ndarray) -> np.ndarray:
    """Centres (k, c) of the operating conditions of condition inputs (n, c); see above."""
    settings = np.asarray(settings, dtype=np.float64)
    settings = settings[np.isfinite(settings).all(axis=1)]
    if settings.shape[1] == 0 or len(settings) == 0:
        return np.zeros((1, settings.shape[1]))
    leaders: list[np.ndarray] = []
    for row in np.unique(np.round(settings, 6), axis=0):
        if not any(np.all(np.abs(row - leader) <= SETTING_TOLERANCE) for leader in leaders):
            leaders.append(row)
    label = nearest_condition(settings, np.array(leaders))
    kept = [k for k in range(len(leaders)) if (label == k).mean() >= MIN_CONDITION_SHARE]
    return np.array([settings[label == k].mean(axis=0) for k in kept])


def resolution(values: np.ndarray) -> float:
    """Smallest step between distinct finite values (inf with fewer than two)."""
    distinct = np.unique(values[np.isfinite(values)])
    return float(np.diff(distinct).min()) if len(distinct) > 1 else math.inf


def fit_spec(
    data: RunData, chosen: Sequence[str] | None = None
) -> tuple[RulFeatureSpec, dict[str, str]]:
    """Conditions, normalisation and signals of `data`, and why other columns are not inputs."""
    candidates = data.candidates
    if chosen is not None:
        unknown = [s for s in chosen if s not in candidates]
        if unknown:
            raise RecipeError(
                f"signal(s) {unknown} cannot be inputs; choose from {list(candidates)}"
            )
        if not chosen or len(set(chosen)) != len(chosen):
            raise RecipeError(f"give each signal once, and at least one (got {list(chosen)})")
    settings = data.column_values(data.conditions)
    centres = operating_conditions(settings)
    assignable = np.isfinite(settings).all(axis=1)
    label = np.where(assignable, nearest_condition(settings, centres), -1)
    values = data.column_values(candidates)
    members = [label == k for k in range(len(centres))]
    with warnings.catch_warnings():
        # A column with no value in some condition warns; the check below says which.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.array([np.nanmean(values[m], axis=0) for m in members])
        std = np.array([np.nanstd(values[m], axis=0) for m in members])
    share = np.array([m.sum() for m in members]) / max(1, int(assignable.sum()))
    pooled = np.sqrt(np.nansum(share[:, None] * std**2, axis=0))
    steps = np.array([resolution(values[:, j]) for j in range(len(candidates))])
    excluded = dict(data.left_out or {})
    for j, signal in enumerate(candidates):
        distinct = len(np.unique(values[np.isfinite(values[:, j]), j]))
        if chosen is not None:
            if signal in chosen and distinct < 2:
                raise RecipeError(f"signal {signal!r} is constant: it cannot be normalised")
            if signal not in chosen:
                excluded[signal] = "not chosen (--signals)"
        elif distinct < MIN_DISTINCT:
            excluded[signal] = f"{distinct} distinct value(s), needs {MIN_DISTINCT}"
        elif not pooled[j] >= MIN_SPREAD * steps[j]:
            excluded[signal] = (
                f"within-condition std {pooled[j]:.3g} < {MIN_SPREAD:g} x its resolution"
                f" {steps[j]:.3g}"
            )
    order = list(chosen) if chosen is not None else [s for s in candidates if s not in excluded]
    kept = [candidates.index(s) for s in order]
    if not kept:
        raise RecipeError(f"no signal varies enough to be an input: {excluded}")
    if not np.isfinite(mean[:, kept]).all():
        raise RecipeError("an operating condition has no values of some input")
    several = len(centres) > 1
    spec = RulFeatureSpec(
        signals=tuple(order),
        conditions=data.conditions if several else (),
        centres=centres if several else np.zeros((1, 0)),
        mean=mean[:, kept],
        std=np.maximum(np.nan_to_num(std[:, kept]), steps[kept]),
        sample_period_s=data.sample_period_s,
    )
    if not several:
        for name in data.conditions:
            excluded[name] = "one operating condition: not needed"
    return spec, excluded


def run_features(data: RunData, spec: RulFeatureSpec, *, progress: bool = False) -> np.ndarray:
    """Feature rows of every row of `data` (n_rows, spec.n_features), run by run."""
    values = data.column_values(spec.inputs)
    features = np.empty((len(values), spec.n_features))
    runs = list(data.by_run())
    for rows in tqdm(runs, desc="features", unit="run", disable=not progress):
        features[rows] = rul_series_features(values[rows], spec)
    return features


class RulRegressor(RegressorMixin, BaseEstimator):
    """HistGradientBoostingRegressor with the recipe's parameters, threads and progress bar."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, *, progress: bool = False) -> RulRegressor:
        """Boost `HGB_PARAMS["max_iter"]` trees on X, y (deterministic for a random_state)."""
        X = np.asarray(X, dtype=np.float64)
        total = HGB_PARAMS["max_iter"]
        model = HistGradientBoostingRegressor(
            **(HGB_PARAMS | {"max_iter": 0, "warm_start": True}), random_state=self.random_state
        )
        with (
            threadpool_limits(limits=TRAINING_THREADS, user_api="openmp"),
            tqdm(total=total, desc="boosting", unit="tree", disable=not progress) as bar,
        ):
            while model.max_iter < total:
                model.set_params(max_iter=min(total, model.max_iter + BOOSTING_CHUNK))
                model.fit(X, y)
                bar.update(model.max_iter - bar.n)
        self.model_ = model.set_params(warm_start=False)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Remaining life per row of X."""
        check_is_fitted(self)
        with threadpool_limits(limits=TRAINING_THREADS, user_api="openmp"):
            return self.model_.predict(np.asarray(X, dtype=np.float64))


def _trees(model: HistGradientBoostingRegressor) -> Iterator[Tree]:
    """The fitted predictors as `Tree`s: leaf values already include the learning rate.

    Reads private `_predictors` (scikit-learn is pinned to the tested minor). A missing
    value goes where scikit-learn sends it.
    """
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        yield Tree(
            leaf=nodes["is_leaf"].astype(bool),
            feature=nodes["feature_idx"],
            threshold=nodes["num_threshold"],
            true_child=nodes["left"],
            false_child=nodes["right"],
            value=nodes["value"],
            missing_true=nodes["missing_go_to_left"],
        )


def _rul_shape(operator: Any) -> None:
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        raise ExportError("RulRegressor exports in double only (its thresholds are float64)")
    # TreeEnsembleRegressor's output is float whatever its input: ~1e-5 of a 125 cycles RUL.
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), 1])


def _rul_converter(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator.model_  # a fitted HistGradientBoostingRegressor
    container.add_node(
        "TreeEnsembleRegressor",
        [operator.inputs[0].full_name],
        [operator.outputs[0].full_name],
        op_domain="ai.onnx.ml",
        op_version=3,
        name=scope.get_unique_operator_name("TreeEnsembleRegressor"),
        # Double thresholds: HistGradientBoosting bins float64 features against them.
        **tree_ensemble_attributes(
            _trees(model), np.float64, base=float(np.ravel(model._baseline_prediction)[0])
        ),
    )


# skl2onnx's extension point, filled where the class is defined (as for EnvelopeScore).
update_registered_converter(RulRegressor, "UvelkaRulRegressor", _rul_shape, _rul_converter)


@dataclass(frozen=True, eq=False)
class RulFit:
    """The fitted recipe: features spec, regressor, and what it was trained on."""

    spec: RulFeatureSpec
    excluded: dict[str, str]  # columns that are not inputs, with the reason
    regressor: RulRegressor
    cap: float
    unit: str
    rows: int  # training rows (with finite features and target)
    runs: int
    seed: int
    # Its prediction interval (analytics.training.rul_calibration.fit_rul_with_interval).
    interval: RulInterval | None = None

    def recipe(self) -> Recipe:
        """Name and parameters for the manifest."""
        return Recipe(
            RECIPE,
            {
                "model": "HistGradientBoostingRegressor",
                "model_params": dict(HGB_PARAMS),
                "target": f"min(remaining life, {self.cap:g} {self.unit}), at least 0",
                "cap": self.cap,
                "setting_tolerance": SETTING_TOLERANCE,
                "min_condition_share": MIN_CONDITION_SHARE,
                "min_distinct": MIN_DISTINCT,
                "min_spread": MIN_SPREAD,
                "excluded": dict(self.excluded),
                "training_rows": self.rows,
                "training_runs": self.runs,
            },
        )

    def manifest(
        self, name: str, data: TrainingData, metrics: dict[str, float] | None = None
    ) -> Manifest:
        """The manifest of the exported model."""
        spec = self.spec
        return Manifest(
            kind="rul",
            name=name,
            inputs=spec.inputs,
            window=WindowSpec(spec.buffer, 1),
            feature_kinds=spec.kinds,
            score_range=(0.0, self.cap),
            output_unit=self.unit,
            data=data,
            seed=self.seed,
            recipe=self.recipe(),
            metrics=metrics or {},
            rul_features=spec,
            rul_interval=self.interval,
        )


def training_set(
    data: RunData, spec: RulFeatureSpec, cap: float, *, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Features and capped targets of every row with finite features and a known target."""
    features = run_features(data, spec, progress=progress)
    target = np.clip(np.minimum(data.remaining, cap), 0.0, None)
    usable = np.isfinite(features).all(axis=1) & np.isfinite(target)
    return features[usable], target[usable]


def fit_rul(
    data: RunData,
    cap: float = CAP,
    chosen: Sequence[str] | None = None,
    seed: int = 0,
    *,
    progress: bool = False,
) -> RulFit:
    """Fit the recipe's point model on `data` (no interval: `fit_rul_with_interval`)."""
    if not (math.isfinite(cap) and cap > 0):
        raise RecipeError(f"cap must be a number > 0, got {cap!r}")
    spec, excluded = fit_spec(data, chosen)
    X, y = training_set(data, spec, cap, progress=progress)
    if len(y) == 0:
        raise RecipeError(f"{data.source}: no row with complete inputs and a known target")
    regressor = RulRegressor(random_state=seed).fit(X, y, progress=progress)
    logger.debug("RUL model fitted on %d rows of %d runs", len(y), data.n_runs)
    return RulFit(spec, excluded, regressor, float(cap), data.unit, len(y), data.n_runs, seed)
