"""Remaining-useful-life features: a buffer of recent samples against a commissioning baseline.

One code path for training and scoring (docs/research/cmapss-rul.md, frozen recipe). The
running gateway keeps, per asset, the newest `buffer` samples of the model's inputs and a
`RulState` (samples since commissioning, the first complete samples); training computes
the same features for every row of a run at once. Both end in `_assemble`, and the tests
check that `rul_series_features` equals `rul_features` row by row.

Per sample, the inputs are first normalised: the row is assigned to the nearest operating
condition (max-norm distance of its condition inputs to the centres; one condition when
there are none) and each signal becomes a z-score with that condition's mean and std.
Then, per signal, over the n = min(cycle, buffer) newest normalised samples (oldest first):

- `mean<recent>`: mean of the newest min(n, recent) samples;
- `slope`: least-squares slope per sample over the n samples (0 when n = 1);
- `ewm<a>`: EWMA started at the oldest sample, weight a(1-a)^(n-1-k) for sample k and
  (1-a)^(n-1) for the oldest (the weights sum to 1);
- `mean<recent>-base`, `ewm<a>-base`: the same minus the commissioning baseline, the mean
  of the first `baseline` complete normalised samples since commissioning (fewer while
  there are fewer);

columns signal-major (every kind of signal 0, then signal 1, ...), then `cycle`: the
samples since commissioning, 1-based. A sample with a missing input (NaN or infinite)
makes its whole normalised row NaN: every feature of a window holding it is NaN, and it
does not count towards the baseline.

numpy only: the gateway imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# The frozen recipe's window (docs/research/cmapss-rul.md); a spec records its own values.
BUFFER = 100  # samples the features look back over, at most
RECENT = 20  # samples of the recent level
BASELINE = 20  # complete samples since commissioning that make the baseline
ALPHAS = (0.1, 0.05)  # EWMA smoothing factors
CYCLE = "cycle"  # name of the last feature column

# Window values processed per block by `rul_series_features` (8 MiB of float64).
_BLOCK_VALUES = 1 << 20


def _names(values: object, what: str) -> tuple[str, ...]:
    if not isinstance(values, list | tuple) or not all(
        isinstance(v, str) and v.strip() for v in values
    ):
        raise ValueError(f"{what} must be a list of non-empty names (got {values!r})")
    names = tuple(values)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what}: listed more than once: {', '.join(repeated)}")
    return names


def _count(value: object, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise ValueError(f"{what} must be an integer >= {least} (got {value!r})")
    return int(value)


def _matrix(value: object, what: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a matrix of numbers (got {value!r})") from None
    if array.shape != shape:
        raise ValueError(f"{what} must have shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class RulFeatureSpec:
    """What `rul_features` needs: the inputs, the normalisation per condition, the window.

    `inputs` (the model's, in row order) are `signals` (normalised and featurised) then
    `conditions` (they only choose the operating condition). `centres` (k, len(conditions)),
    `mean` and `std` (k, len(signals)) hold one row per condition. Validated on
    construction (ValueError). Stored in the manifest as `rul_features`.
    """

    signals: tuple[str, ...]
    conditions: tuple[str, ...]
    centres: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    buffer: int = BUFFER
    recent: int = RECENT
    baseline: int = BASELINE
    alphas: tuple[float, ...] = ALPHAS
    # Sampling period of the training data (None: a sample is a cycle, as in C-MAPSS): the
    # gateway must sample at this period for `cycle` and the window to mean the same.
    sample_period_s: float | None = None
    _kinds: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        signals = _names(self.signals, "signals")
        conditions = _names(self.conditions, "conditions")
        if not signals:
            raise ValueError("signals: at least one is needed")
        shared = sorted(set(signals) & set(conditions))
        if shared:
            raise ValueError(f"{', '.join(shared)}: both a signal and a condition input")
        # One row of mean per operating condition; centres and std must agree with it.
        k = len(self.mean) if isinstance(self.mean, list | tuple | np.ndarray) else 0
        if k < 1 or (not conditions and k != 1):
            raise ValueError(
                f"mean: one row per operating condition, exactly one without condition"
                f" inputs (got {k})"
            )
        buffer = _count(self.buffer, "buffer", 2)
        recent = _count(self.recent, "recent", 1)
        if recent > buffer:
            raise ValueError(f"recent ({recent}) must not exceed buffer ({buffer})")
        if not isinstance(self.alphas, list | tuple) or not self.alphas:
            raise ValueError(f"alphas must be a non-empty list (got {self.alphas!r})")
        alphas = tuple(self.alphas)
        if not all(isinstance(a, float | int) and not isinstance(a, bool) for a in alphas) or (
            not all(0 < a < 1 for a in alphas)
        ):
            raise ValueError(f"alphas must be numbers between 0 and 1 (got {list(alphas)})")
        period = self.sample_period_s
        if period is not None and not (
            isinstance(period, float | int) and math.isfinite(period) and period > 0
        ):
            raise ValueError(f"sample_period_s must be a number > 0 or null (got {period!r})")
        std = _matrix(self.std, "std", (k, len(signals)))
        if not (std > 0).all():
            raise ValueError("std must be > 0 (floor a constant signal at its resolution)")
        normal: dict[str, Any] = {
            "signals": signals,
            "conditions": conditions,
            "centres": _matrix(self.centres, "centres", (k, len(conditions))),
            "mean": _matrix(self.mean, "mean", (k, len(signals))),
            "std": std,
            "buffer": buffer,
            "recent": recent,
            "baseline": _count(self.baseline, "baseline", 1),
            "alphas": tuple(float(a) for a in alphas),
            "sample_period_s": None if period is None else float(period),
        }
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        levels = (f"mean{recent}", *(f"ewm{a:g}" for a in self.alphas))
        kinds = (levels[0], "slope", *levels[1:], *(f"{level}-base" for level in levels))
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"alphas give repeated feature names: {list(kinds)}")
        object.__setattr__(self, "_kinds", kinds)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RulFeatureSpec):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # equal by value, and holds arrays

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model's inputs in row order: the signals, then the condition inputs."""
        return self.signals + self.conditions

    @property
    def kinds(self) -> tuple[str, ...]:
        """Feature kinds per signal, in column order (e.g. mean20, slope, ewm0.1, ...)."""
        return self._kinds

    @property
    def n_features(self) -> int:
        """Columns of a feature row: every kind of every signal, then `cycle`."""
        return len(self.signals) * len(self.kinds) + 1

    def feature_names(self) -> list[str]:
        """Column names, "<signal>.<kind>" signal-major, then "cycle"."""
        return [f"{s}.{k}" for s in self.signals for k in self.kinds] + [CYCLE]

    def expected_rows(self, cycle: int) -> int:
        """Rows of a full window at `cycle`: every sample since commissioning, at most buffer."""
        return min(cycle, self.buffer)

    def condition_of(self, rows: np.ndarray) -> np.ndarray:
        """Index of the nearest operating condition of each row (inputs in row order)."""
        rows = self._rows(rows)
        return nearest_condition(rows[:, len(self.signals) :], self.centres)

    def normalise(self, rows: np.ndarray) -> np.ndarray:
        """z-scores (n, len(signals)) of raw rows (n, len(inputs)); NaN rows where incomplete."""
        rows = self._rows(rows)
        condition = self.condition_of(rows)
        z = (rows[:, : len(self.signals)] - self.mean[condition]) / self.std[condition]
        z[~np.isfinite(rows).all(axis=1)] = np.nan
        return z

    def to_dict(self) -> dict[str, Any]:
        """JSON values, as stored in the manifest."""
        return {
            "signals": list(self.signals),
            "conditions": list(self.conditions),
            "centres": self.centres.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "buffer": self.buffer,
            "recent": self.recent,
            "baseline": self.baseline,
            "alphas": list(self.alphas),
            "sample_period_s": self.sample_period_s,
        }

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.inputs):
            raise ValueError(
                f"rows must be (n, {len(self.inputs)}) for inputs {list(self.inputs)},"
                f" got shape {rows.shape}"
            )
        return rows


def nearest_condition(settings: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (k, c) of each row of condition inputs (n, c), max-norm.

    A row with a missing condition input gets some index (the first among ties); the
    caller treats the row as incomplete. One centre: every row is condition 0.
    """
    settings = np.asarray(settings, dtype=np.float64)
    if len(centres) == 1:
        return np.zeros(len(settings), dtype=np.intp)
    # The max-norm is the one the conditions were clustered with (a tolerance per setting).
    distance = np.abs(settings[:, None, :] - centres[None, :, :]).max(axis=2)
    return np.argmin(np.nan_to_num(distance, nan=np.inf), axis=1)


@lru_cache(maxsize=512)
def _weights(n: int, recent: int, alphas: tuple[float, ...]) -> np.ndarray:
    """Weights (levels, n) over n samples, oldest first: recent mean, slope, then each EWMA."""
    weights = np.zeros((2 + len(alphas), n))
    m = min(n, recent)
    weights[0, n - m :] = 1.0 / m
    if n > 1:
        t = np.arange(n) - (n - 1) / 2.0
        weights[1] = t / np.dot(t, t)
    for row, alpha in enumerate(alphas, start=2):
        weights[row] = alpha * (1.0 - alpha) ** np.arange(n - 1, -1, -1)
        # The EWMA starts at the oldest sample: it keeps the weight the older ones would have.
        weights[row, 0] = (1.0 - alpha) ** (n - 1)
    weights.flags.writeable = False
    return weights


def _assemble(levels: np.ndarray, baseline: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Feature rows (B, S * kinds + 1) from levels (B, 2 + A, S), baselines (B, S), cycles."""
    n_rows, _, n_signals = levels.shape
    # Every level but the slope (row 1) has a baseline difference.
    level_rows = [0, *range(2, levels.shape[1])]
    per_signal = np.concatenate((levels, levels[:, level_rows] - baseline[:, None, :]), axis=1)
    n_kinds = per_signal.shape[1]
    out = np.empty((n_rows, n_signals * n_kinds + 1))
    out[:, :-1] = per_signal.transpose(0, 2, 1).reshape(n_rows, n_signals * n_kinds)
    out[:, -1] = cycle
    return out


def rul_features(
    window: np.ndarray, baseline: np.ndarray, cycle: int, spec: RulFeatureSpec
) -> np.ndarray:
    """Feature row (spec.n_features,) of the newest sample, as the gateway computes it.

    `window`: raw rows (n, len(spec.inputs)) of the newest n samples since commissioning,
    oldest first, 1 <= n <= spec.expected_rows(cycle) (fewer only after a restart emptied
    the buffer); `baseline`: the normalised commissioning baseline (`RulState.baseline`);
    `cycle`: samples since commissioning, 1-based, the newest included.
    """
    window = spec._rows(window)
    cycle = _count(cycle, "cycle", 1)
    n = len(window)
    if not 1 <= n <= spec.expected_rows(cycle):
        raise ValueError(
            f"a window of {n} rows at cycle {cycle}: expected 1 to {spec.expected_rows(cycle)}"
            f" rows, the newest samples since commissioning (at most {spec.buffer})"
        )
    baseline = np.asarray(baseline, dtype=np.float64)
    if baseline.shape != (len(spec.signals),):
        raise ValueError(f"baseline must be ({len(spec.signals)},), got {baseline.shape}")
    levels = _weights(n, spec.recent, spec.alphas) @ spec.normalise(window)
    return _assemble(levels[None], baseline[None], np.array([cycle]))[0]


def rul_series_features(values: np.ndarray, spec: RulFeatureSpec) -> np.ndarray:
    """Feature rows (T, spec.n_features) of every sample of one run, vectorised (training).

    `values`: raw rows (T, len(spec.inputs)) from commissioning on (row 0 is cycle 1). Row
    t equals `rul_features` of rows max(0, t - buffer + 1) .. t with the `RulState` that
    saw rows 0 .. t.
    """
    z = spec.normalise(values)
    n_rows, n_signals = z.shape
    length = spec.buffer
    levels = np.empty((n_rows, 2 + len(spec.alphas), n_signals))
    # Short windows (early in the run): one product each, at most buffer - 1 of them.
    for t in range(min(n_rows, length - 1)):
        levels[t] = _weights(t + 1, spec.recent, spec.alphas) @ z[: t + 1]
    if n_rows >= length:
        weights = _weights(length, spec.recent, spec.alphas).T  # (length, levels)
        windows = sliding_window_view(z, length, axis=0)  # (T - length + 1, S, length), a view
        per_block = max(1, _BLOCK_VALUES // (n_signals * length))
        for first in range(0, len(windows), per_block):
            block = windows[first : first + per_block]
            rows = slice(length - 1 + first, length - 1 + first + len(block))
            levels[rows] = (block @ weights).transpose(0, 2, 1)
    return _assemble(levels, _running_baseline(z, spec.baseline), np.arange(1, n_rows + 1))


def _running_baseline(z: np.ndarray, count: int) -> np.ndarray:
    """Per row, the mean of the first `count` complete rows up to it (NaN before any)."""
    n_rows, n_signals = z.shape
    complete = np.flatnonzero(np.isfinite(z).all(axis=1))[:count]
    sums = np.cumsum(z[complete], axis=0)
    seen = np.searchsorted(complete, np.arange(n_rows), side="right")
    baseline = np.full((n_rows, n_signals), np.nan)
    have = seen > 0
    baseline[have] = sums[seen[have] - 1] / seen[have, None]
    return baseline


class RulState:
    """An asset's state for a RUL model: samples since commissioning, the baseline's rows.

    The gateway keeps one per asset and RUL model, calls `update` with every sample it
    appends to the asset's ring buffer (NaN for an input without a usable value), and
    persists `to_dict()` so a restart does not restart the asset's life. A new state is a
    new commissioning: after a repair that renews the component, or for a model with other
    inputs (`compatible`).
    """

    def __init__(self, inputs: Sequence[str], baseline_rows: int = BASELINE) -> None:
        self.inputs = _names(inputs if isinstance(inputs, str) else tuple(inputs), "inputs")
        self.baseline_rows = _count(baseline_rows, "baseline_rows", 1)
        self.cycle = 0
        self._rows = np.empty((self.baseline_rows, len(self.inputs)))
        self._kept = 0

    @classmethod
    def for_spec(cls, spec: RulFeatureSpec) -> RulState:
        """A fresh state (just commissioned) for a model's spec."""
        return cls(spec.inputs, spec.baseline)

    def compatible(self, spec: RulFeatureSpec) -> bool:
        """True when this state can serve `spec`: same inputs, same baseline length."""
        return spec.inputs == self.inputs and spec.baseline == self.baseline_rows

    def update(self, row: np.ndarray) -> None:
        """Count one sample (inputs in order); keep it for the baseline if complete and early."""
        row = np.asarray(row, dtype=np.float64)
        if row.shape != (len(self.inputs),):
            raise ValueError(f"a row has {len(self.inputs)} values, got shape {row.shape}")
        self.cycle += 1
        if self._kept < self.baseline_rows and np.isfinite(row).all():
            self._rows[self._kept] = row
            self._kept += 1

    @property
    def baseline_complete(self) -> bool:
        """True once `baseline_rows` complete samples were seen; scores before are Uncertain."""
        return self._kept == self.baseline_rows

    @property
    def commissioning_rows(self) -> np.ndarray:
        """The complete samples kept for the baseline so far (read-only copy)."""
        rows = self._rows[: self._kept].copy()
        rows.flags.writeable = False
        return rows

    def baseline(self, spec: RulFeatureSpec) -> np.ndarray:
        """The normalised baseline (len(spec.signals),); NaN before the first complete sample."""
        if not self.compatible(spec):
            raise ValueError(
                f"this state was commissioned for inputs {list(self.inputs)} with a baseline of"
                f" {self.baseline_rows} samples; the model takes {list(spec.inputs)}, baseline"
                f" {spec.baseline}: start a new state"
            )
        if self._kept == 0:
            return np.full(len(spec.signals), np.nan)
        return spec.normalise(self._rows[: self._kept]).mean(axis=0)

    def features(self, window: np.ndarray, spec: RulFeatureSpec) -> np.ndarray:
        """`rul_features` of `window` (the newest samples, this state's last included)."""
        return rul_features(window, self.baseline(spec), self.cycle, spec)

    def to_dict(self) -> dict[str, Any]:
        """JSON values to persist; `from_dict` restores an equal state."""
        return {
            "inputs": list(self.inputs),
            "baseline_rows": self.baseline_rows,
            "cycle": self.cycle,
            "commissioning": self._rows[: self._kept].tolist(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RulState:
        """Restore a persisted state; ValueError names what is wrong with it."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a RUL state must be an object, got {type(raw).__name__}")
        missing = {"inputs", "baseline_rows", "cycle", "commissioning"} - set(raw)
        if missing:
            raise ValueError(f"a RUL state needs {', '.join(sorted(missing))}")
        state = cls(raw["inputs"], raw["baseline_rows"])
        rows = raw["commissioning"]
        if not isinstance(rows, list):
            raise ValueError(f"commissioning must be a list of rows, got {type(rows).__name__}")
        shape = f"at most {state.baseline_rows} rows of {len(state.inputs)} numbers"
        try:
            array = np.array(rows, dtype=np.float64).reshape(-1, len(state.inputs))
        except (TypeError, ValueError):
            raise ValueError(f"commissioning must be {shape}") from None
        if len(array) != len(rows) or len(array) > state.baseline_rows:
            raise ValueError(f"commissioning must be {shape}")
        if not np.isfinite(array).all():
            raise ValueError("commissioning rows must be finite (only complete samples are kept)")
        state.cycle = _count(raw["cycle"], "cycle", len(array))
        state._rows[: len(array)] = array
        state._kept = len(array)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RulState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable


def history_features(rows: np.ndarray, spec: RulFeatureSpec) -> np.ndarray:
    """Feature row of the newest of `rows`, all samples since commissioning, the gateway's way."""
    rows = spec._rows(rows)
    if len(rows) == 0:
        raise ValueError("no samples since commissioning: nothing to score")
    state = RulState.for_spec(spec)
    for row in rows:
        state.update(row)
    return state.features(rows[-spec.expected_rows(len(rows)) :], spec)
