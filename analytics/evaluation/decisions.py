"""From window scores to per-row decisions: threshold, hold (off-delay), row alignment.

The same rules the gateway applies while scoring live, written over a whole recording:
a window is anomalous when its score exceeds the threshold or any of the `hold` windows
before it did (the decision is held, never anticipated), and a row takes the decision of
the latest window ending at or before it. Both are causal: no decision depends on a
later sample.
"""

from __future__ import annotations

import numpy as np


def apply_hold(over: np.ndarray, hold: int) -> np.ndarray:
    """Window i is on when any of windows i-hold .. i is over the threshold (bool array)."""
    if isinstance(hold, bool) or not isinstance(hold, int) or hold < 0:
        raise ValueError(f"hold must be an integer >= 0 windows (got {hold!r})")
    over = np.asarray(over, dtype=bool)
    if hold == 0:
        return over.copy()
    # Count of over-threshold windows up to each window: a window is on when the count
    # rose within its last hold + 1 windows.
    counts = np.concatenate(([0], np.cumsum(over, dtype=np.int64)))
    last = np.arange(1, len(over) + 1)
    return counts[last] - counts[np.maximum(0, last - hold - 1)] > 0


def row_decisions(
    scores: np.ndarray,
    window_ends: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    hold: int,
) -> np.ndarray:
    """Decision of each row in `rows`: the held decision of the latest window ending at or
    before it; False for a row before the first window end. A NaN score (incomplete
    window) is not over the threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    window_ends = np.asarray(window_ends)
    if scores.shape != window_ends.shape or scores.ndim != 1:
        raise ValueError(
            f"one score per window end needed, got {scores.shape} and {window_ends.shape}"
        )
    on = apply_hold(scores > threshold, hold)
    latest = np.searchsorted(window_ends, np.asarray(rows), side="right") - 1
    decisions = np.zeros(len(latest), dtype=bool)
    scored = latest >= 0
    decisions[scored] = on[latest[scored]]
    return decisions
