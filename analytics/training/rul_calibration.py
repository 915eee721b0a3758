"""The RUL recipe's prediction interval, calibrated on held-out training runs (issue #13).

- out-of-fold predictions: the training runs are dealt into `FOLDS` folds by run (a seeded
  shuffle); for each fold the whole recipe (signals, normalisation, model:
  `fit_rul`) is fitted on the other folds' runs and predicts every row of the fold's runs.
  Every row of every run is then predicted by a model that never saw its run, and is
  compared with the true remaining life, uncapped (what a planner is told), at least 0;
- the interval: Low = p - lower(p), High = p + upper(p) of the point value p, Mondrian
  split-conformal by level: the out-of-fold rows sorted by p are cut into `BINS` bins of
  equal count (fewer when a bin would hold under `MIN_BIN_ROWS`); in each, lower and
  upper are the conformal quantiles of the error below and above the point value, each
  at 1 - (1 - nominal) / 2 with the finite-sample rank ceil((n + 1) q), set at the bin's
  median p and interpolated between (the gateway's `RulInterval`). Errors near failure
  are a few cycles, at the cap tens (the truth beyond the cap is unseen): one width for
  every level would be too wide at the end of life and too narrow early;
- the model that ships is the recipe fitted on every run (`fit_rul`), so its point values
  are exactly those of the recipe without an interval.

What was compared, under this protocol only (out-of-fold on FD001's training engines,
calibrated on four fifths of the engines and scored on the fifth): docs/research/cmapss-rul.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from analytics.inference import Model
from analytics.rul_interval import RulInterval
from analytics.training.anomaly import RecipeError
from analytics.training.export import ExportError
from analytics.training.rul import CAP, RulFit, RunData, fit_rul, run_features

logger = logging.getLogger(__name__)

NOMINAL = 0.9  # the interval's coverage the recipe calibrates for
FOLDS = 5  # folds of training runs for the out-of-fold predictions
BINS = 6  # bins of the point value, each calibrated on its own
MIN_BIN_ROWS = 20  # ... holding at least this many out-of-fold rows


@dataclass(frozen=True, eq=False)
class OutOfFold:
    """Every usable row's prediction by a model that never saw its run, and the truth."""

    predicted: np.ndarray  # (n,) point values
    true: np.ndarray  # (n,) remaining life, uncapped, at least 0
    runs: np.ndarray  # (n,) run index in the data the folds were dealt from
    folds: int


def run_folds(n_runs: int, folds: int, seed: int) -> np.ndarray:
    """The fold of each run: a seeded shuffle dealt round-robin (sizes differ by one)."""
    if not 2 <= folds <= n_runs:
        raise RecipeError(
            f"an interval needs at least {folds} run-to-failure runs to hold out (got {n_runs})"
        )
    order = np.random.default_rng(seed).permutation(n_runs)
    fold = np.empty(n_runs, dtype=np.int64)
    fold[order] = np.arange(n_runs) % folds
    return fold


def out_of_fold(
    data: RunData,
    cap: float,
    chosen: Sequence[str] | None = None,
    seed: int = 0,
    folds: int = FOLDS,
    *,
    progress: bool = False,
) -> OutOfFold:
    """Predictions of every run's rows by the recipe fitted without that run's fold."""
    fold = run_folds(data.n_runs, folds, seed)
    predicted, true, runs = [], [], []
    for k in tqdm(range(folds), desc="interval folds", unit="fold", disable=not progress):
        fit = fit_rul(data.subset(fold != k), cap, chosen, seed)
        held = data.subset(fold == k)
        features = run_features(held, fit.spec)
        usable = np.isfinite(features).all(axis=1) & np.isfinite(held.remaining)
        predicted.append(fit.regressor.predict(features[usable]))
        true.append(np.maximum(held.remaining[usable], 0.0))
        runs.append(np.flatnonzero(fold == k)[held.runs[usable]])
    return OutOfFold(np.concatenate(predicted), np.concatenate(true), np.concatenate(runs), folds)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score (the largest when that rank is past n)."""
    ordered = np.sort(scores)
    rank = math.ceil((len(ordered) + 1) * level)
    return float(ordered[min(rank, len(ordered)) - 1])


def calibrate(oof: OutOfFold, nominal: float = NOMINAL) -> RulInterval:
    """The interval whose offsets cover `nominal` of the out-of-fold truths (see above)."""
    if len(oof.true) == 0:
        raise RecipeError("no out-of-fold prediction to calibrate the interval on")
    order = np.argsort(oof.predicted, kind="stable")
    bins = max(1, min(BINS, len(order) // MIN_BIN_ROWS))
    level = 1.0 - (1.0 - nominal) / 2.0
    chunks: list[np.ndarray] = []
    for chunk in np.array_split(order, bins):
        if chunks and np.median(oof.predicted[chunk]) <= np.median(oof.predicted[chunks[-1]]):
            chunks[-1] = np.concatenate((chunks[-1], chunk))  # tied point values: one bin
        else:
            chunks.append(chunk)
    knots, lower, upper = [], [], []
    for chunk in chunks:
        error = oof.true[chunk] - oof.predicted[chunk]
        knots.append(float(np.median(oof.predicted[chunk])))
        lower.append(max(0.0, conformal_quantile(-error, level)))
        upper.append(max(0.0, conformal_quantile(error, level)))
    method = (
        f"Mondrian split-conformal in {len(knots)} bins of the point value, on out-of-fold"
        f" predictions of {len(np.unique(oof.runs))} training runs in {oof.folds} folds"
        f" ({len(oof.true)} rows)"
    )
    return RulInterval(nominal, tuple(knots), tuple(lower), tuple(upper), method)


def fit_rul_with_interval(
    data: RunData,
    cap: float = CAP,
    chosen: Sequence[str] | None = None,
    seed: int = 0,
    nominal: float = NOMINAL,
    *,
    progress: bool = False,
) -> RulFit:
    """The recipe fitted on `data` with its interval: what `uvelka train rul` and `uvelka
    evaluate rul` run. Fewer than `FOLDS` runs leave none to hold out: no interval."""
    fit = fit_rul(data, cap, chosen, seed, progress=progress)  # first: it checks the inputs
    if data.n_runs < FOLDS:
        logger.info("%s: %d run(s), an interval needs %d: none", data.source, data.n_runs, FOLDS)
        return fit
    interval = calibrate(out_of_fold(data, cap, chosen, seed, progress=progress), nominal)
    return replace(fit, interval=interval)


def verify_interval(fit: RulFit, path: Path, X: np.ndarray, atol: float = 1e-4) -> float:
    """Max |Low/High of the ONNX file - of the Python model| on rows `X` (the gateway's
    path: the file's score through its manifest's interval); ExportError above `atol`."""
    model = Model.load(path)
    interval = model.manifest.rul_interval
    if fit.interval is None or interval != fit.interval:
        raise ExportError(f"{path}: the file's interval is not the fitted one")
    got = np.column_stack(interval.bounds(model.score(X)))
    want = np.column_stack(fit.interval.bounds(fit.regressor.predict(X)))
    diff = float(np.max(np.abs(got - want))) if len(X) else math.inf
    if not diff <= atol:
        raise ExportError(f"{path}: Low/High differ from the Python model's by {diff:.3g}")
    return diff
