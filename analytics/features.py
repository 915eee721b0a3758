"""Windowed features of multivariate sensor series: one code path for training and scoring.

A *window* is a block of consecutive samples of every input signal, shaped
`(length, n_signals)`; a *batch* of windows is `(n_windows, length, n_signals)`. `extract`
turns a batch into one row of features per window, vectorised over the whole batch. The
training recipes and the running gateway both call `extract` with the window and feature
kinds recorded in the model's manifest, so a model never sees features computed
differently from how it was trained.

Missing data: a NaN (or an infinity) anywhere in a signal's window makes every feature of
that signal NaN. The gateway never scores an incomplete window (it publishes Bad quality
instead), and a recipe drops windows whose features are not finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Bump whenever a formula, the column order or a kind's meaning changes: a model records
# the version it was trained with and the gateway refuses a model with another one.
FEATURE_VERSION: int = 1

# Every kind `extract` knows, in its default column order (per signal).
FEATURE_KINDS: tuple[str, ...] = (
    "mean",
    "std",
    "rms",
    "min",
    "max",
    "ptp",
    "skew",
    "kurt",
    "crest",
    "slope",
    "last",
)
DEFAULT_KINDS: tuple[str, ...] = FEATURE_KINDS

# Below this standard deviation relative to the window's largest magnitude a signal is
# constant up to rounding (a mean of n equal floats is not always exactly that float), so
# skewness and kurtosis are defined 0 instead of being ratios of rounding noise.
_CONSTANT_RTOL = 1e-12

# Values of one block of windows processed at a time by `extract` (1 MiB of float64).
_BLOCK_VALUES = 1 << 17


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window length and step between consecutive windows, both in samples."""

    length: int
    step: int

    def __post_init__(self) -> None:
        for name, least in (("length", 2), ("step", 1)):
            value = getattr(self, name)
            # bool is an int subclass: `length = true` in a file is a mistake, not 1.
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
                raise ValueError(f"window {name} must be an integer >= {least} (got {value!r})")
            object.__setattr__(self, name, int(value))


def window_starts(n_samples: int, spec: WindowSpec) -> np.ndarray:
    """First row of each window `sliding_windows` cuts from `n_samples` rows (int64)."""
    if n_samples < spec.length:
        return np.empty(0, dtype=np.int64)
    return np.arange(_first_start(n_samples, spec), n_samples - spec.length + 1, spec.step)


def _first_start(n_samples: int, spec: WindowSpec) -> int:
    # Aligned on the end so the newest sample is always in the last window: the first
    # (n_samples - length) % step rows are dropped when they do not fill a whole step.
    return (n_samples - spec.length) % spec.step


def window_ends(n_samples: int, spec: WindowSpec) -> np.ndarray:
    """Last row (inclusive) of each window: where a window's label or target is read."""
    return window_starts(n_samples, spec) + (spec.length - 1)


def sliding_windows(series: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Cut `series` (n_samples, n_signals) into a read-only view (n_windows, length, n_signals).

    Window i covers rows `[s + i*step, s + i*step + length)` with
    `s = (n_samples - length) % step`, so the last window ends at the last row; see
    `window_starts` and `window_ends`. Fewer rows than `length` gives zero windows. No data
    is copied: the result is a strided view of `series`.
    """
    series = np.asarray(series)
    if series.ndim != 2:
        raise ValueError(f"series must be 2-D (n_samples, n_signals), got shape {series.shape}")
    n_samples, n_signals = series.shape
    if n_samples < spec.length:
        return np.empty((0, spec.length, n_signals), dtype=series.dtype)
    # sliding_window_view appends the window axis last: (n, n_signals, length) -> swap.
    view = sliding_window_view(series[_first_start(n_samples, spec) :], spec.length, axis=0)
    return view[:: spec.step].transpose(0, 2, 1)


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """Return `kinds` as a tuple, or raise ValueError naming an unknown or repeated kind."""
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("at least one feature kind is needed")
    unknown = [k for k in kinds if k not in FEATURE_KINDS]
    if unknown:
        raise ValueError(f"unknown feature kind(s) {unknown}; known: {', '.join(FEATURE_KINDS)}")
    repeated = sorted({k for k in kinds if kinds.count(k) > 1})
    if repeated:
        raise ValueError(f"feature kind(s) listed more than once: {repeated}")
    return kinds


def feature_names(signals: Sequence[str], kinds: Sequence[str] = DEFAULT_KINDS) -> list[str]:
    """Column names of `extract`, "<signal>.<kind>", signal-major in the same order."""
    kinds = check_kinds(kinds)
    return [f"{signal}.{kind}" for signal in signals for kind in kinds]


def extract(windows: np.ndarray, kinds: Sequence[str] = DEFAULT_KINDS) -> np.ndarray:
    """Features of a batch (n_windows, length, n_signals) as float64 (n_windows, n_features).

    Columns are signal-major: all `kinds` of signal 0, then of signal 1, ... (see
    `feature_names`); `n_features = n_signals * len(kinds)`. Formulas in analytics/README.md.
    """
    windows = np.asarray(windows)
    if windows.ndim != 3:
        raise ValueError(
            f"windows must be 3-D (n_windows, length, n_signals), got shape {windows.shape}"
        )
    if windows.shape[1] < 2:
        raise ValueError(f"windows need at least 2 samples, got length {windows.shape[1]}")
    kinds = check_kinds(kinds)
    n_windows, length, n_signals = windows.shape
    out = np.empty((n_windows, n_signals, len(kinds)), dtype=np.float64)
    # Blocks of about 1 MiB: the temporaries stay in cache and their memory is reused from
    # block to block; one batch-sized pass costs ~1.5x more (cache misses, and page faults
    # when the allocator hands large freed blocks back to the system between calls).
    per_block = max(1, _BLOCK_VALUES // (length * n_signals))
    for first in range(0, n_windows, per_block):
        block = slice(first, first + per_block)
        # A private signal-major copy: reductions run over a contiguous last axis (about
        # four times faster than over the strided middle axis of the input), and
        # _statistics may centre it in place.
        x = np.array(windows[block].transpose(0, 2, 1), dtype=np.float64, order="C")
        # inf - inf is NaN by design here (see the module docstring), not a warning.
        with np.errstate(invalid="ignore", over="ignore"):
            stats = _statistics(x)
        for column, kind in enumerate(kinds):
            out[block, :, column] = stats[kind]
    # (n_windows, n_signals, n_kinds) -> signal-major rows.
    return out.reshape(n_windows, n_signals * len(kinds))


def _statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """Every kind for `x` (n_windows, n_signals, length), each (n_windows, n_signals).

    All kinds are computed, always: selecting some would save little, since they share the
    expensive passes (the copy, min/max and the centring). `x` is centred in place.
    """
    length = x.shape[2]
    lo = x.min(axis=2)
    hi = x.max(axis=2)
    last = x[:, :, -1].copy()
    mean = x.mean(axis=2)
    x -= mean[:, :, None]
    # Central moments by einsum, which contracts a product without a batch-sized temporary.
    var = np.einsum("wsl,wsl->ws", x, x) / length
    square = x * x
    m3 = np.einsum("wsl,wsl->ws", square, x) / length
    m4 = np.einsum("wsl,wsl->ws", square, square) / length
    # Least-squares slope against the sample index t: sum(t' x') / sum(t'²) with both
    # centred; the centred x keeps precision when a signal sits on a large offset.
    t = np.arange(length, dtype=np.float64) - (length - 1) / 2.0
    slope = (x @ t) / np.dot(t, t)

    std = np.sqrt(var)  # population (ddof 0), the same normalisation as the moments
    rms = np.sqrt(mean * mean + var)  # mean(x²) without a pass; both terms >= 0
    peak = np.maximum(np.abs(lo), np.abs(hi))
    varying = std > _CONSTANT_RTOL * peak
    skew = np.zeros_like(var)
    np.divide(m3, var**1.5, out=skew, where=varying)
    kurt = np.zeros_like(var)
    np.divide(m4, var * var, out=kurt, where=varying)
    np.subtract(kurt, 3.0, out=kurt, where=varying)
    crest = np.zeros_like(var)
    np.divide(peak, rms, out=crest, where=rms != 0)
    stats = {
        "mean": mean,
        "std": std,
        "rms": rms,
        "min": lo,
        "max": hi,
        "ptp": hi - lo,
        "skew": skew,
        "kurt": kurt,
        "crest": crest,
        "slope": slope,
        "last": last,
    }
    # A non-finite sample leaves some kinds finite (min, last, ...): poison them all, so
    # "any NaN feature" is a reliable test for an incomplete window.
    invalid = ~np.isfinite(mean)
    if invalid.any():
        for values in stats.values():
            values[invalid] = np.nan
    return stats
