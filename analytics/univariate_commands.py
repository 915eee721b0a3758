"""`uvelka train anomaly --univariate` and `uvelka evaluate anomaly --windows` (issue #13).

The handlers behind `analytics.commands`, which imports this module only when one of them
runs: it imports the training extra (scikit-learn, skl2onnx) at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analytics.commands import UsageError, _one_recording, _print_model
from analytics.evaluation.nab_score import load_windows
from analytics.evaluation.univariate import evaluate_nab as run_nab
from analytics.manifest import TrainingData, fingerprint
from analytics.training import univariate
from analytics.training.datasets import Recording
from analytics.training.export import export_onnx, verify


def _one_signal(recording: Recording, chosen: Sequence[str] | None) -> int:
    """The column of the one signal: the only one, or the one `--signals` names."""
    if chosen is None:
        if len(recording.signals) != 1:
            raise UsageError(
                f"{len(recording.signals)} signals ({', '.join(recording.signals)}): the"
                " univariate recipe takes one; name it with --signals"
            )
        return 0
    if len(chosen) != 1 or chosen[0] not in recording.signals:
        raise UsageError(
            f"--signals {','.join(chosen)}: name one of {', '.join(recording.signals)}"
        )
    return recording.signals.index(chosen[0])


def train_univariate(
    data: Path, out: Path, rows: int, chosen: Sequence[str] | None, name: str | None
) -> int:
    """Fit the univariate recipe on the first `rows` rows of one signal, export, verify."""
    recording = _one_recording(data)
    column = _one_signal(recording, chosen)
    values = recording.values[:, column]
    if len(values) < rows:
        raise UsageError(f"{data}: {len(values)} rows, fewer than the {rows} commissioning rows")
    fit = univariate.fit_univariate(values[:rows], recording.signals[column])
    print(f"data: {data} ({len(values)} rows; commissioning: rows 1-{rows})")
    print(f"floor of the window std: {fit.detector.floor_:.6g}")
    commissioning = values[:rows].reshape(-1, 1)
    source = f"{data}: {fit.signal}, rows 1-{rows} (commissioning)"
    manifest = fit.manifest(name or out.stem, TrainingData(fingerprint(commissioning), source))
    export_onnx(fit.detector, len(univariate.KINDS), manifest, out, dtype="float64")
    features, _ = univariate.window_features(values)
    check = features[np.isfinite(features).all(axis=1)]
    diff = verify(fit.detector, out, check, atol=1e-9)
    _print_model(out, manifest, f"max |ONNX - numpy| {diff:.1e} over the recording")
    return 0


def evaluate_nab(data: Path, windows_file: Path, *, as_json: bool) -> int:
    """NAB's protocol on one univariate recording with its labelled windows."""
    try:
        windows = load_windows(windows_file)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        evaluation = run_nab(_one_recording(data), windows, data)
    except ValueError as exc:  # a window holding no row of the data
        raise UsageError(f"{windows_file}: {exc}") from exc
    if as_json:
        print(json.dumps(evaluation.to_dict(), indent=2, allow_nan=False))
        return 0
    result = evaluation.result
    print(f"data: {data} ({evaluation.rows} rows of {evaluation.signal})")
    print(
        f"protocol: NAB, streamed in order; the first {evaluation.probation} rows (15 %) are"
        f" the probationary period the recipe is fitted on, never scored"
    )
    print(
        f"method: {univariate.UNIVARIATE_RECIPE}, window {univariate.WINDOW.length},"
        f" threshold {univariate.THRESHOLD:g}, hold {univariate.HOLD} windows"
    )
    for (start, end), first in zip(evaluation.windows, result.first_detections, strict=True):
        seen = "missed" if first is None else f"detected at row {first + 1}"
        print(f"window {start} .. {end}: {seen}")
    print(f"alarms after the probation: {', '.join(evaluation.detections) or 'none'}")
    print(
        f"NAB: windows detected {result.windows_detected} of {result.windows}, false alarms"
        f" {result.false_alarms}, standard profile score {result.score:.1f}"
        f" (raw {result.raw:.4f}; null detector 0, perfect 100)"
    )
    return 0
