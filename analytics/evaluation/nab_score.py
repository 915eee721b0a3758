"""NAB's scoring of detections against labelled windows (issue #13), numpy and the stdlib only.

Written from the NAB paper (Ahmad, Lavin, Purdy, Agha, Neurocomputing 262 (2017) 134-147)
and the facts of NAB's README, not from its code. Rows are scored in order:

- a row inside a window of `width` rows ending at row `right` has the relative position
  `-(right - i + 1) / width` (-1 at the left edge, just below 0 at the right edge); a row
  after a window, `|right - i| / (width - 1)` of the window before it; a row before any
  window, 3 (the farthest);
- `scaled_sigmoid(y) = 2 / (1 + exp(5 y)) - 1`, and -1 from 3 on: ~0.987 at the left
  edge of a window, 0 at its right edge, towards -1 after it;
- a window earns `A_TP * scaled_sigmoid(y) / scaled_sigmoid(-1)` for its earliest
  detection (a later one in it neither adds nor costs), or `-A_FN` without one; every
  detection outside the windows costs `A_FP * scaled_sigmoid(y)` (negative);
- rows of the probationary period (the first 15 % of the rows, NAB's README) are not
  scored: a detection there counts for nothing;
- normalised: `100 * (raw - null) / (perfect - null)`, the null detector (no detection:
  `-A_FN` per window) at 0 and the perfect one (each window detected at its first row:
  `A_TP` per window) at 100.

NAB's standard profile weighs A_TP = 1, A_FP = 0.11, A_FN = 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROBATION_SHARE = 0.15  # NAB's README: the first 15 % of the rows are not scored


@dataclass(frozen=True, slots=True)
class Profile:
    """NAB's weights of a true positive, a false positive and a false negative."""

    tp: float
    fp: float
    fn: float


STANDARD = Profile(tp=1.0, fp=0.11, fn=1.0)


def scaled_sigmoid(position: float) -> float:
    """NAB's reward of a detection at a relative position: 2 sigmoid(-5 y) - 1, -1 from 3."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probationary_rows(n_rows: int) -> int:
    """Rows of the probationary period: the first 15 % (floor), never scored."""
    return math.floor(PROBATION_SHARE * n_rows)


@dataclass(frozen=True, slots=True)
class NabResult:
    """Windows, the ones detected, false alarms (detections outside windows) and the score."""

    windows: int
    windows_detected: int
    false_alarms: int
    raw: float
    score: float  # normalised: null detector 0, perfect detector 100
    first_detections: tuple[int | None, ...]  # per window, its earliest detection row

    def to_dict(self) -> dict[str, Any]:
        """JSON values, under the names of `uvelka evaluate anomaly --windows --json`."""
        return {
            "windows": self.windows,
            "windows_detected": self.windows_detected,
            "false_alarms": self.false_alarms,
            "nab_raw": self.raw,
            "nab_score": self.score,
            "first_detections": list(self.first_detections),
        }


def nab_score(
    n_rows: int,
    detections: Sequence[int],
    windows: Sequence[tuple[int, int]],
    probation: int,
    profile: Profile = STANDARD,
) -> NabResult:
    """Score detection rows against windows (first and last row, inclusive, in order).

    A window wholly inside the probationary period is not scored, as NAB leaves it out.
    """
    _check_windows(n_rows, windows)
    scored = [(left, right) for left, right in windows if right >= probation]
    best: list[float | None] = [None] * len(scored)
    first: list[int | None] = [None] * len(scored)
    fp_cost, false_alarms = 0.0, 0
    max_tp = scaled_sigmoid(-1.0)
    for row in sorted(set(int(d) for d in detections)):
        if not probation <= row < n_rows:
            continue
        inside = next((k for k, (lo, hi) in enumerate(scored) if lo <= row <= hi), None)
        if inside is not None:
            left, right = scored[inside]
            position = -(right - row + 1) / (right - left + 1)
            reward = profile.tp * scaled_sigmoid(position) / max_tp
            if best[inside] is None:
                best[inside], first[inside] = reward, row
            continue
        before = [w for w in windows if w[1] < row]
        if before:
            left, right = before[-1]
            # A one-row window has width - 1 = 0: NAB divides by it; take it as far (3).
            position = abs(right - row) / (right - left) if right > left else 3.0
        else:
            position = 3.0
        fp_cost += profile.fp * scaled_sigmoid(position)
        false_alarms += 1
    raw = fp_cost + sum(-profile.fn if b is None else b for b in best)
    null, perfect = -profile.fn * len(scored), profile.tp * len(scored)
    score = 100.0 * (raw - null) / (perfect - null) if scored else 0.0
    detected = sum(b is not None for b in best)
    return NabResult(len(scored), detected, false_alarms, raw, score, tuple(first))


def _check_windows(n_rows: int, windows: Sequence[tuple[int, int]]) -> None:
    previous = -1
    for left, right in windows:
        if not previous < left <= right < n_rows:
            raise ValueError(
                f"windows must be in order, not overlapping, inside rows 0..{n_rows - 1}:"
                f" got {list(windows)}"
            )
        previous = right


def load_windows(path: Path) -> list[tuple[np.datetime64, np.datetime64]]:
    """A JSON list of `[start, end]` timestamp pairs (ISO 8601, as the data's time column)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(raw, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        for pair in raw
    ):
        raise ValueError(f"{path}: expected a list of [start, end] timestamp pairs")
    windows = []
    for start, end in raw:
        try:
            pair = (np.datetime64(start, "us"), np.datetime64(end, "us"))
        except ValueError as exc:
            raise ValueError(f"{path}: bad timestamp in [{start!r}, {end!r}] ({exc})") from exc
        if pair[1] < pair[0]:
            raise ValueError(f"{path}: window [{start}, {end}] ends before it starts")
        windows.append(pair)
    return windows


def window_rows(
    timestamps: np.ndarray, windows: Sequence[tuple[np.datetime64, np.datetime64]]
) -> list[tuple[int, int]]:
    """Each window's first and last row: the rows whose time lies in [start, end]."""
    rows = []
    for start, end in windows:
        left = int(np.searchsorted(timestamps, start, side="left"))
        right = int(np.searchsorted(timestamps, end, side="right")) - 1
        if right < left:
            raise ValueError(f"window [{start}, {end}] holds no row of the data")
        rows.append((left, right))
    return rows
