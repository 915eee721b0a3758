"""The asset ring buffer grows for a model taken at run time (issue #17: a slot without a
model at start has no window length to size the buffer by)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from gateway.core.quality import Quality
from gateway.runtime.asset_window import AssetWindow
from tests.gateway.runtime.test_asset_window import T0, fill


def test_growing_keeps_the_rows_held_in_order_and_waits_for_the_rest() -> None:
    window = AssetWindow(3, 2)
    fill(window, 5)  # wrapped: holds rows 2, 3, 4

    window.grow(5)

    assert window.capacity == 5
    short = window.latest(3)
    assert short is not None
    np.testing.assert_array_equal(short.values, [[2, 20], [3, 30], [4, 40]])
    assert short.quality is Quality.GOOD
    # Five rows were appended, but only three are held: the two before them wait.
    long = window.latest(5)
    assert long is not None
    assert long.quality is Quality.WAITING
    window.append(np.array([5.0, 50.0]), Quality.GOOD, T0 + timedelta(seconds=5))
    window.append(np.array([6.0, 60.0]), Quality.GOOD, T0 + timedelta(seconds=6))
    full = window.latest(5)
    assert full is not None
    np.testing.assert_array_equal(full.values[:, 0], [2, 3, 4, 5, 6])
    assert full.quality is Quality.GOOD
    assert full.end_time == T0 + timedelta(seconds=6)


def test_growing_never_shrinks() -> None:
    window = AssetWindow(4, 2)
    fill(window, 4)
    window.grow(2)
    assert window.capacity == 4
    latest = window.latest(4)
    assert latest is not None
    np.testing.assert_array_equal(latest.values[:, 0], [0, 1, 2, 3])
