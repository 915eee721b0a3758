"""Models for bench/inference.py, trained on the spot on synthetic data by the project's code.

Three kinds, each exported by `analytics.training.export.export_onnx` into one file that
every benchmark asset uses:

- "isolation-forest": a 100-tree scikit-learn IsolationForest on `analytics.features.extract`
  (default kinds) of windows of any length, step 1: the shape issue #3 states its target for;
- "envelope": the default anomaly recipe (`analytics.training.anomaly.fit_envelope`), whose
  window is the recipe's constant, 15 samples of one kind ("mean");
- "rul": the RUL recipe (`analytics.training.rul.fit_rul`) on synthetic runs to failure;
  its buffer is the recipe's 100 samples.

The plant: each signal is a level, a sinusoid and AR(1) noise, different per signal so no
feature is degenerate; a run to failure adds a wear term that grows with the run's age.
Every asset gets its own phase and noise. Deterministic for a seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from analytics.features import DEFAULT_KINDS, WindowSpec, extract, sliding_windows
from analytics.manifest import Manifest, Recipe, TrainingData, fingerprint
from analytics.training.anomaly import WINDOW as ENVELOPE_WINDOW
from analytics.training.anomaly import drift_allowance, fit_envelope
from analytics.training.export import export_onnx
from analytics.training.rul import RunData, fit_rul

MODELS = ("isolation-forest", "envelope", "rul")
FOREST_TREES = 100  # the size issue #3's notes measured
FOREST_THRESHOLD_QUANTILE = 0.995  # of the training scores: a few live windows go over
NORMAL_RECORDINGS = 8  # separate runs of normal operation, each with its own phase
NORMAL_ROWS = 600
ENVELOPE_REFERENCE_ROWS = 2000  # enough for the drift allowance (400 + 800 rows per run)
ENVELOPE_COMMISSIONING_ROWS = 400
RUL_RUNS = 40
RUL_LIFE = (150, 300)  # cycles to failure, uniform
_AR = 0.7  # noise memory: neighbouring samples correlate, as real sensors do


@dataclass(frozen=True)
class BenchModel:
    """One exported model: its file, the scikit-learn object it came from and its shape."""

    name: str  # one of MODELS
    kind: str  # "anomaly" | "rul": the asset's model slot
    path: Path
    estimator: Any  # what `export.reference_scores` runs for the scikit-learn figures
    rows: int  # rows one score reads: the window, or a RUL model's buffer
    n_features: int
    train_s: float  # fit plus export
    note: str | None  # how the model's shape differs from what was asked, and why


def signal_names(n_signals: int) -> list[str]:
    """The benchmark's signal names: s0, s1, ..."""
    return [f"s{j}" for j in range(n_signals)]


def _plant(rng: np.random.Generator, n_rows: int, n_signals: int, age: np.ndarray | None = None
           ) -> np.ndarray:
    """(n_rows, n_signals) of normal operation, plus wear where `age` (0..1 per row) is given."""
    j = np.arange(n_signals)
    level = 10.0 * (j + 1)
    amplitude = 0.5 + 0.25 * j
    period = 20.0 + 7.0 * j
    t = np.arange(n_rows)[:, None]
    phase = rng.uniform(0.0, 2 * np.pi, n_signals)
    noise = rng.normal(0.0, 0.2 + 0.05 * j, (n_rows, n_signals))
    for row in range(1, n_rows):
        noise[row] += _AR * noise[row - 1]
    values = level + amplitude * np.sin(2 * np.pi * t / period + phase) + noise
    if age is not None:
        # Each signal drifts with wear at its own rate, some up and some down.
        gain = (1.0 + 0.5 * j) * np.where(j % 2 == 0, 1.0, -1.0)
        values += gain * age[:, None] ** 2
    return values


def train(name: str, n_signals: int, window: int, folder: Path, seed: int = 0) -> BenchModel:
    """Fit and export model `name` (one of MODELS) into `folder`."""
    rng = np.random.default_rng(seed)
    signals = signal_names(n_signals)
    path = folder / f"bench-{name}.onnx"
    began = time.perf_counter()
    if name == "isolation-forest":
        made = _isolation_forest(rng, signals, window, path, seed)
    elif name == "envelope":
        made = _envelope(rng, signals, window, path)
    elif name == "rul":
        made = _rul(rng, signals, window, path, seed)
    else:
        raise ValueError(f"unknown model {name!r}; one of {', '.join(MODELS)}")
    kind, estimator, manifest, note = made
    return BenchModel(name, kind, path, estimator, manifest.window.length, manifest.n_features,
                      time.perf_counter() - began, note)


_Made = tuple[str, Any, Manifest, str | None]


def _isolation_forest(rng: np.random.Generator, signals: Sequence[str], window: int,
                      path: Path, seed: int) -> _Made:
    spec = WindowSpec(window, 1)
    recordings = [_plant(rng, NORMAL_ROWS, len(signals)) for _ in range(NORMAL_RECORDINGS)]
    X = np.vstack([extract(sliding_windows(r, spec), DEFAULT_KINDS) for r in recordings])
    forest = IsolationForest(n_estimators=FOREST_TREES, random_state=seed).fit(X)
    threshold = float(np.quantile(-forest.score_samples(X), FOREST_THRESHOLD_QUANTILE))
    manifest = Manifest(
        kind="anomaly", name="bench-isolation-forest", inputs=tuple(signals), window=spec,
        score_range=(0.0, 1.0), threshold=threshold,
        data=TrainingData(fingerprint(*recordings),
                          f"synthetic normal operation, {NORMAL_RECORDINGS} x {NORMAL_ROWS} rows"),
        seed=seed,
        recipe=Recipe("bench-isolation-forest", {
            "n_estimators": FOREST_TREES, "threshold_quantile": FOREST_THRESHOLD_QUANTILE}),
    )
    export_onnx(forest, X.shape[1], manifest, path)
    return "anomaly", forest, manifest, None


def _envelope(rng: np.random.Generator, signals: Sequence[str], window: int, path: Path
              ) -> _Made:
    reference = _plant(rng, ENVELOPE_REFERENCE_ROWS, len(signals))
    commissioning = _plant(rng, ENVELOPE_COMMISSIONING_ROWS, len(signals))
    allowance = drift_allowance([reference], signals, ENVELOPE_COMMISSIONING_ROWS)
    fit = fit_envelope(commissioning, allowance)
    manifest = fit.manifest("bench-envelope", TrainingData(
        fingerprint(commissioning, reference), "synthetic commissioning and reference rows"))
    export_onnx(fit.detector, manifest.n_features, manifest, path, dtype="float64")
    note = None
    if window != ENVELOPE_WINDOW.length:
        note = (f"the envelope recipe's window is fixed at {ENVELOPE_WINDOW.length} samples"
                f" of one kind (analytics.training.anomaly.WINDOW), not {window}")
    if len(fit.inputs) != len(signals):
        note = f"{note + '; ' if note else ''}the recipe left out {dict(fit.excluded)}"
    return "anomaly", fit.detector, manifest, note


def _rul(rng: np.random.Generator, signals: Sequence[str], window: int, path: Path,
         seed: int) -> _Made:
    lives = rng.integers(RUL_LIFE[0], RUL_LIFE[1] + 1, RUL_RUNS)
    runs = [_plant(rng, life, len(signals), np.arange(life) / life) for life in lives]
    data = RunData(
        source=f"synthetic runs to failure, {RUL_RUNS} runs of {RUL_LIFE[0]}-{RUL_LIFE[1]} cycles",
        columns=tuple(signals),
        values=np.vstack(runs),
        runs=np.repeat(np.arange(RUL_RUNS), lives),
        remaining=np.concatenate([np.arange(life)[::-1] for life in lives]).astype(np.float64),
        unit="cycles",
    )
    fit = fit_rul(data, seed=seed)
    manifest = fit.manifest("bench-rul", TrainingData(
        fingerprint(data.values, data.runs, data.remaining), data.source))
    export_onnx(fit.regressor, fit.spec.n_features, manifest, path, dtype="float64")
    note = None
    if window != fit.spec.buffer:
        note = (f"the RUL recipe reads a buffer of {fit.spec.buffer} samples"
                f" (analytics.rul_features.BUFFER), not {window}")
    if len(fit.spec.signals) != len(signals):
        note = f"{note + '; ' if note else ''}the recipe left out {dict(fit.excluded)}"
    return "rul", fit.regressor, manifest, note


def live_rows(model: BenchModel, n_assets: int, n_rows: int, n_signals: int, seed: int = 1
              ) -> np.ndarray:
    """(n_rows, n_assets, n_signals) of what the assets' tags read, one row per second.

    A RUL asset is somewhere in the first half of a life of RUL_LIFE[1] rows (so its score
    moves), an anomaly asset in normal operation.
    """
    rng = np.random.default_rng(seed)
    rows = np.empty((n_rows, n_assets, n_signals))
    for asset in range(n_assets):
        age = None
        if model.kind == "rul":
            start = rng.uniform(0.0, 0.5)
            age = start + np.arange(n_rows) / RUL_LIFE[1]
        rows[:, asset] = _plant(rng, n_rows, n_signals, age)
    return rows
