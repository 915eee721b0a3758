"""NAB's standard-profile scoring on hand-computed cases (analytics/evaluation/nab_score.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from analytics.evaluation.nab_score import (
    load_windows,
    nab_score,
    probationary_rows,
    scaled_sigmoid,
    window_rows,
)

# 2 / (1 + e^-5) - 1: a detection at a window's first row, before the division by itself.
MAX_TP = 0.9866142981514305


def test_scaled_sigmoid_at_nab_s_reference_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(MAX_TP, abs=1e-15)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.8482836399575129, abs=1e-15)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-MAX_TP, abs=1e-15)
    assert scaled_sigmoid(3.0) == -1.0
    assert scaled_sigmoid(7.5) == -1.0


def test_null_and_perfect_detectors_score_0_and_100() -> None:
    windows = [(100, 149), (300, 349)]
    null = nab_score(500, [], windows, probation=50)
    assert (null.raw, null.score, null.windows_detected, null.false_alarms) == (-2.0, 0.0, 0, 0)
    perfect = nab_score(500, [100, 300], windows, probation=50)
    assert perfect.raw == pytest.approx(2.0)
    assert perfect.score == pytest.approx(100.0)
    assert perfect.first_detections == (100, 300)


def test_the_earliest_detection_in_a_window_counts_once() -> None:
    # Window rows 10..19 (width 10); row 14: position -(19 - 14 + 1) / 10 = -0.6,
    # reward (2 / (1 + e^-3) - 1) / MAX_TP = 0.9051482536448664 / MAX_TP.
    result = nab_score(40, [14, 16, 19], [(10, 19)], probation=0)
    reward = 0.9051482536448664 / MAX_TP
    assert result.raw == pytest.approx(reward, abs=1e-12)
    assert result.score == pytest.approx(100 * (reward + 1) / 2, abs=1e-9)
    assert (result.windows_detected, result.false_alarms) == (1, 0)


def test_false_alarms_cost_by_their_distance_after_a_window() -> None:
    # Before any window: position 3, cost 0.11. Row 28 after window 10..19: position
    # |19 - 28| / (19 - 10) = 1, cost 0.11 * (2 / (1 + e^5) - 1) = -0.11 * MAX_TP.
    # Row 60: position 41 / 9 >= 3, cost 0.11. The window itself is missed: -1.
    result = nab_score(100, [5, 28, 60], [(10, 19)], probation=0)
    assert result.raw == pytest.approx(-0.11 - 0.11 * MAX_TP - 0.11 - 1.0, abs=1e-12)
    assert (result.windows_detected, result.false_alarms) == (0, 3)
    assert result.score == pytest.approx(100 * (result.raw + 1) / 2)


def test_the_probationary_period_is_not_scored() -> None:
    assert probationary_rows(7267) == 1090  # NAB's README: the first 15 %
    result = nab_score(100, [3, 12], [(10, 19)], probation=15)
    assert (result.false_alarms, result.windows_detected, result.raw) == (0, 0, -1.0)
    # A window wholly inside the probation is not one of the file's windows.
    assert nab_score(100, [], [(2, 8), (40, 49)], probation=15).windows == 1


def test_windows_map_timestamps_to_rows_and_are_read_from_json(tmp_path: Path) -> None:
    times = np.arange("2024-01-01T00", "2024-01-02T00", dtype="datetime64[h]").astype("M8[us]")
    path = tmp_path / "windows.json"
    path.write_text(
        '[["2024-01-01 03:00:00", "2024-01-01 05:30"], ["2024-01-01T20", "2024-01-02"]]'
    )
    assert window_rows(times, load_windows(path)) == [(3, 5), (20, 23)]
    path.write_text('[["2024-01-01 05:00", "2024-01-01 04:00"]]')
    with pytest.raises(ValueError, match="ends before it starts"):
        load_windows(path)
    path.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="list of \\[start, end\\]"):
        load_windows(path)
    with pytest.raises(ValueError, match="holds no row"):
        window_rows(times, [(np.datetime64("2025-01-01", "us"), np.datetime64("2025-01-02", "us"))])
    with pytest.raises(ValueError, match="in order"):
        nab_score(10, [], [(5, 8), (2, 3)], probation=0)
    assert math.isclose(nab_score(10, [], [], probation=0).score, 0.0)
