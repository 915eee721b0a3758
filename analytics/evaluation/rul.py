"""The C-MAPSS protocol: train on a subset's training runs, predict once per test unit.

Per subset with test files (`../shared/datasets/cmapss-fd001/README.md`): the recipe is
fitted on every cycle of the training units (`evaluate_recipe`, exactly what `uvelka train
rul` fits; its selection was frozen by engine-grouped cross-validation on FD001's training
file) or one given model is used (`evaluate_model`); each test unit gets one prediction,
at its last cycle, computed the gateway's way (`history_features`: a `RulState` fed every
cycle, then `rul_features` of the buffer); it is compared with the true, uncapped RUL.
Reported: RMSE and the PHM08 score per subset, and over all test units pooled; with a
prediction interval (the recipe's, calibrated on the training runs only, or the model's),
its coverage (the share of test units whose true RUL lies in [Low, High]) and mean width
at its nominal coverage (issue #13).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from analytics.inference import Model
from analytics.rul_features import RulFeatureSpec, history_features
from analytics.rul_interval import RulInterval
from analytics.training.datasets import CmapssSubset, DatasetError, Runs
from analytics.training.rul import CAP, cmapss_runs, fit_rul
from analytics.training.rul_calibration import fit_rul_with_interval

# PHM08 score (Saxena et al. 2008): late predictions (d > 0) cost more than early ones.
PHM08_EARLY = 13.0
PHM08_LATE = 10.0


def rmse(predicted: np.ndarray, true: np.ndarray) -> float:
    """Root mean square of predicted - true."""
    d = _errors(predicted, true)
    return float(np.sqrt(np.mean(d * d)))


def phm08_score(predicted: np.ndarray, true: np.ndarray) -> float:
    """Sum of exp(-d/13) - 1 for d < 0 and exp(d/10) - 1 otherwise, d = predicted - true."""
    d = _errors(predicted, true)
    return float(np.sum(np.where(d < 0, np.expm1(-d / PHM08_EARLY), np.expm1(d / PHM08_LATE))))


def _errors(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    predicted = np.asarray(predicted, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if predicted.shape != true.shape or predicted.ndim != 1 or len(predicted) == 0:
        raise ValueError(f"need equal non-empty 1-D arrays, got {predicted.shape} and {true.shape}")
    return predicted - true


@dataclass(frozen=True)
class UnitResult:
    """One test unit: its last cycle, the true RUL after it and the prediction there."""

    unit: int
    last_cycle: int
    true: float
    predicted: float
    low: float | None = None  # the prediction interval, when the model has one
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON values, with the error predicted - true."""
        return {
            "unit": self.unit,
            "last_cycle": self.last_cycle,
            "true": self.true,
            "predicted": self.predicted,
            "error": self.predicted - self.true,
        }


def interval_figures(units: tuple[UnitResult, ...], nominal: float) -> dict[str, float]:
    """`nominal`, and the share of units whose true RUL lies in [low, high] and the mean
    high - low (`coverage`, `mean_width`) of units with an interval."""
    bounded = [u for u in units if u.low is not None and u.high is not None]
    if not bounded:
        raise ValueError("no unit has an interval")
    true, low, high = (np.array([getattr(u, k) for u in bounded]) for k in ("true", "low", "high"))
    return {
        "nominal": nominal,
        "coverage": float(np.mean((low <= true) & (true <= high))),
        "mean_width": float(np.mean(high - low)),
    }


@dataclass(frozen=True, eq=False)
class SubsetResult:
    """One subset's test units, and the training data when the recipe was fitted."""

    name: str
    inputs: tuple[str, ...]
    units: tuple[UnitResult, ...]
    train_units: int | None = None
    train_rows: int | None = None
    nominal: float | None = None  # the interval's, None without one

    @property
    def interval(self) -> dict[str, float] | None:
        """The interval's nominal, coverage and mean width over the test units (None: none)."""
        return None if self.nominal is None else interval_figures(self.units, self.nominal)

    @property
    def rmse(self) -> float:
        """RMSE over the test units."""
        return rmse(*_columns(self.units))

    @property
    def phm08(self) -> float:
        """PHM08 score over the test units."""
        return phm08_score(*_columns(self.units))

    def to_dict(self) -> dict[str, Any]:
        """JSON values: sizes, metrics, inputs and every unit."""
        return {
            "name": self.name,
            "train_units": self.train_units,
            "train_rows": self.train_rows,
            "test_units": len(self.units),
            "rmse": self.rmse,
            "phm08": self.phm08,
            "interval": self.interval,
            "inputs": list(self.inputs),
            "units": [u.to_dict() for u in self.units],
        }


def _columns(units: tuple[UnitResult, ...]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([u.predicted for u in units]), np.array([u.true for u in units])


@dataclass(frozen=True, eq=False)
class RulEvaluation:
    """One protocol run: per-subset results, pooled by `overall`."""

    root: Path
    method: str
    cap: float
    output_unit: str
    subsets: tuple[SubsetResult, ...]
    skipped: tuple[str, ...] = ()  # subsets without test files

    @property
    def overall(self) -> dict[str, float]:
        """Test units of every subset pooled: count, RMSE and PHM08 score (a sum)."""
        units = tuple(u for s in self.subsets for u in s.units)
        predicted, true = _columns(units)
        return {
            "units": len(units),
            "rmse": rmse(predicted, true),
            "phm08": phm08_score(predicted, true),
        }

    @property
    def interval(self) -> dict[str, float] | None:
        """The interval's figures over the test units of every subset with one, pooled
        (None when no subset has one); subsets' nominals agree (one recipe or model)."""
        nominals = {s.nominal for s in self.subsets if s.nominal is not None}
        if not nominals:
            return None
        units = tuple(u for s in self.subsets if s.nominal is not None for u in s.units)
        return interval_figures(units, nominals.pop())

    def to_dict(self) -> dict[str, Any]:
        """JSON values: protocol, overall metrics, per-subset and per-unit results."""
        return {
            "data": str(self.root),
            "method": self.method,
            "cap": self.cap,
            "output_unit": self.output_unit,
            "overall": self.overall,
            "interval": self.interval,
            "subsets": [s.to_dict() for s in self.subsets],
            "skipped": list(self.skipped),
        }


def last_cycle_features(runs: Runs, spec: RulFeatureSpec, source: str) -> np.ndarray:
    """Feature row at the last cycle of each unit of `runs` (n_units, spec.n_features)."""
    data = cmapss_runs(runs, source)
    values = data.column_values(spec.inputs)
    return np.array([history_features(values[rows], spec) for rows in data.by_run()])


@dataclass(frozen=True, eq=False)
class _Test:
    """A subset's test part: its runs, the true RUL after each unit, where it came from."""

    subset: CmapssSubset
    runs: Runs
    true: np.ndarray
    source: str

    def results(
        self, predicted: np.ndarray, interval: RulInterval | None
    ) -> tuple[UnitResult, ...]:
        low, high = (None, None) if interval is None else interval.bounds(predicted)
        return tuple(
            UnitResult(
                unit,
                int(self.runs.cycles[rows.stop - 1]),
                float(true),
                float(predicted[i]),
                None if low is None else float(low[i]),
                None if high is None else float(high[i]),
            )
            for i, ((unit, rows), true) in enumerate(
                zip(self.runs.by_unit(), self.true, strict=True)
            )
        )


def _tests(subsets: Mapping[str, CmapssSubset], root: Path) -> tuple[list[_Test], tuple[str, ...]]:
    tests = [
        _Test(s, s.test, s.test_rul, f"{root}/test_{s.name}.txt")
        for s in subsets.values()
        if s.test is not None and s.test_rul is not None
    ]
    skipped = tuple(name for name, s in subsets.items() if s.test is None)
    if not tests:
        raise DatasetError(f"{root}: no subset has test_*.txt and RUL_*.txt to evaluate on")
    return tests, skipped


def evaluate_recipe(
    subsets: Mapping[str, CmapssSubset],
    root: Path,
    cap: float = CAP,
    *,
    interval: bool = True,
    progress: bool = False,
) -> RulEvaluation:
    """Fit the recipe on each subset's training runs and predict its test units; without
    `interval`, the point model alone (the same predictions, a sixth of the fitting)."""
    tests, skipped = _tests(subsets, root)
    results = []
    for test in tests:
        name = test.subset.name
        train = cmapss_runs(test.subset.train, f"{root}/train_{name}.txt")
        fit = (
            fit_rul_with_interval(train, cap, progress=progress)
            if interval
            else fit_rul(train, cap, progress=progress)
        )
        predicted = fit.regressor.predict(last_cycle_features(test.runs, fit.spec, test.source))
        results.append(
            SubsetResult(
                name,
                fit.spec.inputs,
                test.results(predicted, fit.interval),
                train.n_runs,
                fit.rows,
                None if fit.interval is None else fit.interval.nominal,
            )
        )
    return RulEvaluation(
        root,
        "default recipe, fitted on each subset's training runs",
        cap,
        "cycles",
        tuple(results),
        skipped,
    )


def evaluate_model(
    subsets: Mapping[str, CmapssSubset], root: Path, model: Model, *, progress: bool = False
) -> RulEvaluation:
    """Predict every subset's test units with one existing model (nothing is fitted)."""
    manifest = model.manifest
    spec = manifest.rul_features
    if manifest.kind != "rul" or spec is None:
        raise DatasetError(
            f"{model.source}: not a model of `uvelka train rul` (kind {manifest.kind},"
            f" {'with' if spec else 'without'} buffer features)"
        )
    tests, skipped = _tests(subsets, root)
    results = []
    for test in tqdm(tests, desc="subsets", unit="subset", disable=not progress):
        features = last_cycle_features(test.runs, spec, test.source)
        interval = manifest.rul_interval
        results.append(
            SubsetResult(
                test.subset.name,
                spec.inputs,
                test.results(model.score(features), interval),
                nominal=None if interval is None else interval.nominal,
            )
        )
    return RulEvaluation(
        root,
        f"model {model.source} ({model.version})",
        manifest.score_range[1],
        manifest.output_unit or "cycles",
        tuple(results),
        skipped,
    )
