"""An asset's training set from the gateway's own history, and a candidate's validation
figures (issue #12).

The rows are the asset's inputs at its `interval`, each cell the mean of the step's points
when they are all Good (history_export's CSV with `good_only`, read back by the reader
`uvelka train` uses): a cell with any other quality is empty, a missing sample, so no
window across it is complete and a normal-only model never learns from it. Ranges to
leave out (labelled `anomaly`, alarms judged `confirmed`, or given by hand) are blanked
the same way; ranges labelled `anomaly` are also the truth of precision and recall.

Validation is time-ordered, never shuffled: the envelope is fitted on the first
`1 - HELD_BACK` of the rows and the false-alarm rate is the share of the complete normal
windows of the held-back rest that the model would flag. The supervised recipe holds
nothing back: it learns from the anomalous rows too and is validated out of fold
(analytics.training.anomaly.fit_labelled), so a range may end in its labelled fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from analytics.commands import UsageError

HELD_BACK = 0.2  # the newest fifth of the range judges the candidate
MIN_FIT_ROWS = 400  # the recipe's commissioning rows (analytics.training.anomaly)
MIN_HELD_WINDOWS = 100


class TrainingError(UsageError):
    """The history cannot give what was asked; str(exc) is one line for the person."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end) in aware UTC."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """`FROM/TO`, ISO 8601 each (no offset: UTC)."""
        first, slash, second = text.partition("/")
        if not slash:
            raise TrainingError(f"range {text!r}: expected FROM/TO, ISO 8601 each")
        span = cls(parse_time(first), parse_time(second))
        if span.end <= span.start:
            raise TrainingError(f"range {text!r}: the end must be after the start")
        return span

    def covers(self, times: np.ndarray) -> np.ndarray:
        """Which of `times` (datetime64[us], UTC) lie in the range."""
        lo, hi = (
            np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "us")
            for t in (self.start, self.end)
        )
        return (times >= lo) & (times < hi)

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end

    def text(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is UTC."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TrainingError(
            f"time {text!r}: not ISO 8601 (e.g. 2026-12-07T08:00:00+00:00)"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


@dataclass(frozen=True, slots=True)
class Selection:
    """What the history's rows may teach: ranges left out of a normal-only model, and the
    ranges labelled `anomaly` (left out too, and the labels of the supervised recipe);
    `expert` names the stored labels and verdicts those ranges came from (the manifest's
    record of them)."""

    leave_out: tuple[TimeRange, ...] = ()
    anomalous: tuple[TimeRange, ...] = ()
    expert: tuple[dict[str, str], ...] = ()

    def joined(self, other: Selection) -> Selection:
        return Selection(
            self.leave_out + other.leave_out,
            self.anomalous + other.anomalous,
            self.expert + other.expert,
        )

    def overlapping(self, span: TimeRange) -> Selection:
        """Only what overlaps `span` (the range trained on): what was used."""
        return Selection(
            tuple(r for r in self.leave_out if r.overlaps(span)),
            tuple(r for r in self.anomalous if r.overlaps(span)),
            tuple(e for e in self.expert if TimeRange.parse(e["range"]).overlaps(span)),
        )

    def masks(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: in an anomalous range, and left out (anomalous or left out)."""
        anomalous = np.zeros(len(times), dtype=bool)
        for span in self.anomalous:
            anomalous |= span.covers(times)
        left_out = anomalous.copy()
        for span in self.leave_out:
            left_out |= span.covers(times)
        return anomalous, left_out

    def describe(self) -> dict[str, Any]:
        return {
            "leave_out": [s.text() for s in self.leave_out],
            "anomalous": [s.text() for s in self.anomalous],
            "labels_used": list(self.expert),
        }


@dataclass(frozen=True, eq=False)
class TrainingRows:
    """The asset's rows over the range: `values` NaN where an input was not Good."""

    asset: str
    times: np.ndarray  # datetime64[us]
    values: np.ndarray  # float64 (n, inputs)
    signals: tuple[str, ...]
    anomalous: np.ndarray  # bool (n,)
    left_out: np.ndarray  # bool (n,): anomalous or in a range left out
    held_from: int  # the first held-back row (past the last: none held back)

    @classmethod
    def of(
        cls,
        asset: str,
        times: np.ndarray,
        values: np.ndarray,
        signals: Sequence[str],
        selection: Selection,
        what: str,
        supervised: bool = False,
    ) -> TrainingRows:
        """The rows, checked to be enough for the recipe (`what` names the range in the
        message when they are not). `supervised`: the recipe learns from the anomalous
        rows too and is validated out of fold, so nothing is held back (`held_from` is
        past the last row)."""
        complete = np.isfinite(values).all(axis=1)
        anomalous, left_out = selection.masks(times)
        if supervised:
            learnt = int((complete & (anomalous | ~left_out)).sum())
            if learnt < MIN_FIT_ROWS:
                raise TrainingError(
                    f"asset {asset!r}: too little Good data in {what}: {learnt} of"
                    f" {len(times)} rows have every input Good and are not left out; the"
                    f" supervised recipe needs {MIN_FIT_ROWS}: widen the range or check the"
                    " inputs' quality"
                )
            return cls(asset, times, values, tuple(signals), anomalous, left_out, len(times))
        held_from = int(len(times) * (1 - HELD_BACK))
        usable = complete & ~left_out
        fit_rows, held_rows = int(usable[:held_from].sum()), int(usable[held_from:].sum())
        if fit_rows < MIN_FIT_ROWS or held_rows < MIN_HELD_WINDOWS:
            raise TrainingError(
                f"asset {asset!r}: too little Good data in {what}: {int(complete.sum())} of"
                f" {len(times)} rows have every input Good, {int((complete & left_out).sum())}"
                f" of those left out; training needs {MIN_FIT_ROWS} usable rows in the first"
                f" {100 - HELD_BACK * 100:g} % of the range (has {fit_rows}) and"
                f" {MIN_HELD_WINDOWS} in the held-back rest (has {held_rows}): widen the range"
                " or check the inputs' quality"
            )
        return cls(asset, times, values, tuple(signals), anomalous, left_out, held_from)

    @property
    def normal(self) -> np.ndarray:
        """`values` with the rows left out blanked: what a normal-only model learns from."""
        return np.where(self.left_out[:, None], np.nan, self.values)

    @property
    def good_rows(self) -> int:
        return int(np.isfinite(self.values).all(axis=1).sum())

    def range_text(self) -> str:
        return f"{_iso(self.times[0])}/{_iso(self.times[-1])}"


def _iso(at: np.datetime64) -> str:
    return str(np.datetime_as_string(at, unit="s")) + "Z"


@dataclass(frozen=True, slots=True)
class Validation:
    """A candidate's figures: the false-alarm rate on the held-back normal windows, and
    precision/recall against the anomalous ranges (None without any)."""

    false_alarm_rate: float
    held_back_windows: int
    precision: float | None
    recall: float | None
    labelled_windows: int

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "false_alarm_rate": self.false_alarm_rate,
            "held_back_windows": self.held_back_windows,
            "precision": self.precision,
            "recall": self.recall,
            "labelled_windows": self.labelled_windows,
        }

    def metrics(self) -> dict[str, float]:
        """For the manifest's metrics (defined figures only)."""
        found = {
            "held_back_far": self.false_alarm_rate,
            "precision": self.precision,
            "recall": self.recall,
        }
        return {name: value for name, value in found.items() if value is not None}


def validate(
    rows: TrainingRows, normal_flags: np.ndarray, flags: np.ndarray, ends: np.ndarray
) -> Validation:
    """Figures from the model's decisions on each window ending at rows `ends`: of the
    normal rows (`normal_flags`, NaN where a window is incomplete) and of every Good row
    (`flags`, anomalies kept). Precision and recall count every complete window of the
    range outside the ranges left out by hand; the fitted part's normal windows were
    seen in training, so they flatter precision a little."""
    held = (ends >= rows.held_from) & ~np.isnan(normal_flags)
    held_windows = int(held.sum())
    far = float(normal_flags[held].mean()) if held_windows else 0.0
    if not rows.anomalous.any():
        return Validation(far, held_windows, None, None, 0)
    truth = rows.anomalous[ends]
    judged = ~np.isnan(flags) & ~(rows.left_out & ~rows.anomalous)[ends]
    flagged = np.nan_to_num(flags) > 0
    tp = int((flagged & truth & judged).sum())
    fp = int((flagged & ~truth & judged).sum())
    fn = int((~flagged & truth & judged).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return Validation(far, held_windows, precision, recall, int((truth & judged).sum()))


def decisions(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1.0 where a window's score is above `threshold`, 0.0 below, NaN where incomplete."""
    return np.where(np.isfinite(scores), (scores > threshold).astype(np.float64), np.nan)
