"""Confusion matrix of per-row decisions and the SKAB rates (F1, FAR, MAR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of rows: anomalous and flagged (tp), normal and flagged (fp), and so on.

    Add confusions to pool rows of several files (the SKAB protocol pools, it does not
    average per-file rates). A rate whose denominator is zero is None: undefined.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, decisions: np.ndarray) -> Confusion:
        """Count rows of true labels against decisions (both boolean, same length)."""
        labels = np.asarray(labels, dtype=bool)
        decisions = np.asarray(decisions, dtype=bool)
        if labels.shape != decisions.shape:
            raise ValueError(f"{labels.shape} labels but {decisions.shape} decisions")
        return cls(
            tp=int(np.count_nonzero(labels & decisions)),
            fp=int(np.count_nonzero(~labels & decisions)),
            fn=int(np.count_nonzero(labels & ~decisions)),
            tn=int(np.count_nonzero(~labels & ~decisions)),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def rows(self) -> int:
        """Rows counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def f1(self) -> float | None:
        """TP / (TP + (FP + FN) / 2); None when there is nothing to find and nothing flagged."""
        errors = self.fp + self.fn
        return self.tp / (self.tp + errors / 2) if self.tp + errors else None

    @property
    def far(self) -> float | None:
        """False alarm rate FP / (FP + TN): the share of normal rows flagged."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else None

    @property
    def mar(self) -> float | None:
        """Missed alarm rate FN / (FN + TP): the share of anomalous rows not flagged."""
        return self.fn / (self.fn + self.tp) if self.fn + self.tp else None

    def rates(self) -> dict[str, float]:
        """The defined rates by name ("f1", "far", "mar"), e.g. for a manifest's metrics."""
        rates = {"f1": self.f1, "far": self.far, "mar": self.mar}
        return {name: value for name, value in rates.items() if value is not None}

    def to_dict(self) -> dict[str, int | float | None]:
        """Counts and rates as JSON values (an undefined rate is null)."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "f1": self.f1,
            "far": self.far,
            "mar": self.mar,
        }
