"""The asset ring buffer: order, wrap-around, worst quality, completeness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from gateway.core.quality import Quality
from gateway.runtime.asset_window import AssetWindow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(window: AssetWindow, rows: int, quality: Quality = Quality.GOOD) -> None:
    for i in range(rows):
        window.append(np.array([i, 10.0 * i]), quality, T0 + timedelta(seconds=i))


def test_incomplete_window_is_none() -> None:
    window = AssetWindow(4, 2)
    fill(window, 2)
    assert window.latest(3) is None
    assert window.latest(2) is not None


def test_newest_rows_oldest_first_across_wrap_around() -> None:
    window = AssetWindow(4, 2)
    fill(window, 7)
    latest = window.latest(3)
    assert latest is not None
    np.testing.assert_array_equal(latest.values, [[4, 40], [5, 50], [6, 60]])
    assert latest.end_time == T0 + timedelta(seconds=6)
    assert latest.quality is Quality.GOOD


def test_quality_is_the_worst_row_of_the_window_only() -> None:
    window = AssetWindow(5, 2)
    window.append(np.array([0.0, 0.0]), Quality.COMM_ERROR, T0)
    fill(window, 3)
    window.append(np.array([1.0, 1.0]), Quality.LAST_USABLE, T0)
    assert window.latest(4).quality is Quality.LAST_USABLE
    assert window.latest(5).quality is Quality.COMM_ERROR
