"""NAB's protocol for one univariate recording (issue #13): stream, detect, score.

The recording's first 15 % of rows are NAB's probationary period: the univariate recipe
is fitted on them (the asset's commissioning) and nothing in them is scored. Every later
row takes the decision of the window ending at it (threshold, then hold, causally: no
look-ahead), and a detection is a row where the decision turns on: one alarm, as the
gateway raises it, not one per row the decision stays on. The detections are scored by
`nab_score` against the labelled windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics.evaluation.decisions import row_decisions
from analytics.evaluation.nab_score import NabResult, nab_score, probationary_rows, window_rows
from analytics.training.datasets import DatasetError, Recording
from analytics.training.univariate import HOLD, THRESHOLD, WINDOW, fit_univariate


@dataclass(frozen=True, eq=False)
class NabEvaluation:
    """The recipe on one recording under NAB's protocol."""

    source: Path
    signal: str
    rows: int
    probation: int
    windows: tuple[tuple[str, str], ...]  # as labelled: start and end times
    detections: tuple[str, ...]  # times of every alarm onset after the probation
    result: NabResult

    def to_dict(self) -> dict[str, Any]:
        """JSON values: the protocol, NAB's figures and the detection times."""
        return {
            "protocol": "nab",
            "data": str(self.source),
            "signal": self.signal,
            "rows": self.rows,
            "probationary_rows": self.probation,
            "window": {"length": WINDOW.length, "step": WINDOW.step},
            "threshold": THRESHOLD,
            "hold": HOLD,
            "profile": "standard (A_TP 1, A_FP 0.11, A_FN 1)",
            **self.result.to_dict(),
            "labelled_windows": [list(w) for w in self.windows],
            "detections": list(self.detections),
        }


def onsets(decisions: np.ndarray) -> np.ndarray:
    """Rows where a boolean decision turns on (the first row counts when it is on)."""
    decisions = np.asarray(decisions, dtype=bool)
    return np.flatnonzero(decisions & ~np.concatenate(([False], decisions[:-1])))


def evaluate_nab(
    recording: Recording,
    windows: Sequence[tuple[np.datetime64, np.datetime64]],
    source: Path,
) -> NabEvaluation:
    """Fit on the probationary rows, stream the rest, score alarm onsets with NAB."""
    if len(recording.signals) != 1:
        raise DatasetError(
            f"{source}: {len(recording.signals)} signals ({', '.join(recording.signals)});"
            " NAB's protocol scores one univariate series"
        )
    n = len(recording.values)
    probation = probationary_rows(n)
    rows = window_rows(recording.timestamps, windows)
    values = recording.values[:, 0]
    fit = fit_univariate(values[:probation], recording.signals[0])
    scores, ends = fit.window_scores(values)
    decisions = row_decisions(scores, ends, np.arange(n), THRESHOLD, HOLD)
    alarms = [int(r) for r in onsets(decisions) if r >= probation]
    result = nab_score(n, alarms, rows, probation)
    times = recording.timestamps
    return NabEvaluation(
        source,
        recording.signals[0],
        n,
        probation,
        tuple((_time(times[lo]), _time(times[hi])) for lo, hi in rows),
        tuple(_time(times[r]) for r in alarms),
        result,
    )


def _time(stamp: np.datetime64) -> str:
    """A row's time to the second, as the data writes it."""
    return str(np.datetime_as_string(stamp, unit="s"))
