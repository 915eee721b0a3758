"""The SKAB protocol over a folder of recordings: fit per file, decide every later row, pool.

Per labelled recording (an asset), the first `commissioning_rows` rows are its training
part and every later row its test part. Either the default recipe is fitted on each
training part (`evaluate_recipe`, exactly what `uvelka train anomaly` fits), or one given
model scores every file (`evaluate_model`: a fleet model, nothing fitted per file). Each
window is scored, the threshold and hold turn scores into decisions causally, and each
test row takes the decision of the window ending at it. The test rows of all files are
pooled into one confusion matrix (`../shared/datasets/skab/README.md`). Unlabelled
recordings are the reference normal data of the drift allowance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from analytics.evaluation.decisions import row_decisions
from analytics.evaluation.metrics import Confusion
from analytics.features import extract, sliding_windows, window_ends
from analytics.inference import Model
from analytics.training.anomaly import (
    COMMISSIONING_ROWS,
    HOLD,
    THRESHOLD,
    DriftAllowance,
    drift_allowance,
    fit_envelope,
)
from analytics.training.datasets import DatasetError, Recording, RecordingSet


@dataclass(frozen=True)
class FileResult:
    """One recording's test part: its size and its confusion matrix."""

    name: str
    test_rows: int
    anomalous_rows: int
    confusion: Confusion
    inputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON values: name, rows, inputs and the confusion's counts and rates."""
        return {
            "name": self.name,
            "test_rows": self.test_rows,
            "anomalous_rows": self.anomalous_rows,
            "inputs": list(self.inputs),
            **self.confusion.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Result of one protocol run: per-file results, pooled by `overall`."""

    root: Path
    method: str
    commissioning_rows: int
    threshold: float
    hold: int
    files: tuple[FileResult, ...]
    reference: tuple[str, ...] = ()  # unlabelled recordings used as extra normal data
    allowance: DriftAllowance | None = None  # the recipe's, when it was fitted per file

    @property
    def overall(self) -> Confusion:
        """Test rows of every file pooled into one confusion matrix."""
        return sum((f.confusion for f in self.files), Confusion())

    def to_dict(self) -> dict[str, Any]:
        """JSON values: protocol, overall counts and rates, per-file results."""
        allowance = self.allowance
        return {
            "data": str(self.root),
            "method": self.method,
            "commissioning_rows": self.commissioning_rows,
            "threshold": self.threshold,
            "hold": self.hold,
            "extra_normal_data": list(self.reference),
            "drift_allowance": (
                None
                if allowance is None
                else {
                    "source": allowance.describe(),
                    "values": {s: allowance.of(s) for s in allowance.signals},
                }
            ),
            "overall": {"test_rows": self.overall.rows, **self.overall.to_dict()},
            "files": [f.to_dict() for f in self.files],
        }


def score_test_part(
    recording: Recording,
    scores: np.ndarray,
    ends: np.ndarray,
    commissioning_rows: int,
    threshold: float,
    hold: int,
    inputs: Sequence[str],
) -> FileResult:
    """Decide the test rows of `recording` from its window scores and count them."""
    if recording.labels is None:
        raise DatasetError(f"{recording.name}: no 'anomaly' column to evaluate against")
    n_rows = len(recording.values)
    if n_rows <= commissioning_rows:
        raise DatasetError(
            f"{recording.name}: {n_rows} rows, none left after {commissioning_rows}"
            " commissioning rows"
        )
    rows = np.arange(commissioning_rows, n_rows)
    decisions = row_decisions(scores, ends, rows, threshold, hold)
    labels = recording.labels[commissioning_rows:]
    return FileResult(
        name=recording.name,
        test_rows=len(rows),
        anomalous_rows=int(labels.sum()),
        confusion=Confusion.of(labels, decisions),
        inputs=tuple(inputs),
    )


def evaluate_recipe(
    dataset: RecordingSet,
    commissioning_rows: int = COMMISSIONING_ROWS,
    chosen: Sequence[str] | None = None,
    *,
    progress: bool = False,
) -> Evaluation:
    """Fit the default recipe on each labelled file's commissioning rows; score the rest."""
    labelled = _labelled(dataset)
    reference = dataset.unlabelled
    allowance = drift_allowance(
        [r.values for r in reference], dataset.signals, commissioning_rows, progress=progress
    )
    results = []
    for recording in tqdm(labelled, desc="files", unit="file", disable=not progress):
        fit = fit_envelope(recording.values[:commissioning_rows], allowance, chosen)
        scores, ends = fit.window_scores(recording.values)
        results.append(
            score_test_part(
                recording, scores, ends, commissioning_rows, THRESHOLD, HOLD, fit.inputs
            )
        )
    return Evaluation(
        root=dataset.root,
        method="default recipe, fitted on each file's commissioning rows",
        commissioning_rows=commissioning_rows,
        threshold=THRESHOLD,
        hold=HOLD,
        files=tuple(results),
        reference=tuple(r.name for r in reference),
        allowance=allowance,
    )


def model_window_scores(model: Model, recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every window of `recording` by `model` (its inputs picked by name)."""
    manifest = model.manifest
    missing = [s for s in manifest.inputs if s not in recording.signals]
    if missing:
        raise DatasetError(
            f"{recording.name}: no column(s) {missing} for model {manifest.name!r}"
            f" (inputs {list(manifest.inputs)})"
        )
    columns = [recording.signals.index(s) for s in manifest.inputs]
    windows = sliding_windows(recording.values[:, columns], manifest.window)
    scores = model.score(extract(windows, manifest.feature_kinds))
    return scores, window_ends(len(recording.values), manifest.window)


def evaluate_model(
    dataset: RecordingSet,
    model: Model,
    commissioning_rows: int = COMMISSIONING_ROWS,
    *,
    progress: bool = False,
) -> Evaluation:
    """Score every labelled file's test part with one existing model (a fleet model)."""
    manifest = model.manifest
    if manifest.kind != "anomaly" or manifest.threshold is None:
        raise DatasetError(f"{model.source}: a {manifest.kind} model, not an anomaly model")
    results = []
    for recording in tqdm(_labelled(dataset), desc="files", unit="file", disable=not progress):
        scores, ends = model_window_scores(model, recording)
        results.append(
            score_test_part(
                recording,
                scores,
                ends,
                commissioning_rows,
                manifest.threshold,
                manifest.hold,
                manifest.inputs,
            )
        )
    return Evaluation(
        root=dataset.root,
        method=f"model {model.source} ({model.version}), the same for every file",
        commissioning_rows=commissioning_rows,
        threshold=manifest.threshold,
        hold=manifest.hold,
        files=tuple(results),
    )


def _labelled(dataset: RecordingSet) -> tuple[Recording, ...]:
    if not dataset.labelled:
        raise DatasetError(
            f"{dataset.root}: no recording with an 'anomaly' column: nothing to evaluate"
        )
    return dataset.labelled
