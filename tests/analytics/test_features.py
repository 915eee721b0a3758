"""Windowed features: hand-computed values, an independent scipy cross-check, alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analytics.features import (
    FEATURE_KINDS,
    WindowSpec,
    check_kinds,
    extract,
    feature_names,
    sliding_windows,
    window_ends,
    window_starts,
)


def features_of(samples: list[float]) -> dict[str, float]:
    """Every kind for one window of one signal, by name."""
    row = extract(np.array(samples, dtype=np.float64)[None, :, None])[0]
    return dict(zip(FEATURE_KINDS, row.tolist(), strict=True))


# Hand-computed; rms = sqrt(mean(x²)), moments with the population normalisation (ddof 0).
HAND_COMPUTED = {
    "ramp 1..4": (
        [1, 2, 3, 4],
        {
            "mean": 2.5,
            "std": math.sqrt(1.25),
            "rms": math.sqrt(7.5),  # (1 + 4 + 9 + 16) / 4
            "min": 1,
            "max": 4,
            "ptp": 3,
            "skew": 0,  # symmetric
            "kurt": 2.5625 / 1.5625 - 3,  # m4 = (2 * 1.5⁴ + 2 * 0.5⁴) / 4, m2² = 1.25²
            "crest": 4 / math.sqrt(7.5),
            "slope": 1,
            "last": 4,
        },
    ),
    "one spike 0,0,0,3": (
        [0, 0, 0, 3],
        {
            "mean": 0.75,
            "std": math.sqrt(1.6875),  # (3 * 0.75² + 2.25²) / 4
            "rms": 1.5,
            "min": 0,
            "max": 3,
            "ptp": 3,
            "skew": 2 / math.sqrt(3),  # m3 = 2.53125, m2^1.5 = 1.6875^1.5
            "kurt": 7 / 3 - 3,  # m4 = 6.64453125 = (7/3) m2²
            "crest": 2,
            "slope": 0.9,  # sum(t x) / sum(t²) = 4.5 / 5 with t = -1.5, -0.5, 0.5, 1.5
            "last": 3,
        },
    ),
    "constant 5": (
        [5, 5, 5, 5],
        {
            "mean": 5,
            "std": 0,
            "rms": 5,
            "min": 5,
            "max": 5,
            "ptp": 0,
            "skew": 0,  # defined 0 without spread
            "kurt": 0,
            "crest": 1,
            "slope": 0,
            "last": 5,
        },
    ),
    "all zero": (
        [0, 0, 0],
        {k: 0 for k in FEATURE_KINDS},  # crest defined 0 when rms is 0
    ),
    "negative peak -4, 1": (
        [-4, 1],
        {
            "mean": -1.5,
            "std": 2.5,
            "rms": math.sqrt(8.5),
            "min": -4,
            "max": 1,
            "ptp": 5,
            "skew": 0,  # two points are symmetric about their mean
            "kurt": -2,  # m4 / m2² = 1 for two points
            "crest": 4 / math.sqrt(8.5),  # the peak is the largest magnitude, |-4|
            "slope": 5,
            "last": 1,
        },
    ),
}


@pytest.mark.parametrize("case", HAND_COMPUTED, ids=list(HAND_COMPUTED))
def test_hand_computed_values(case: str) -> None:
    samples, expected = HAND_COMPUTED[case]
    got = features_of(samples)
    assert got.keys() == expected.keys()
    for kind, value in expected.items():
        assert got[kind] == pytest.approx(value, rel=1e-12, abs=1e-12), kind


@pytest.mark.parametrize("value", [0.1, 1e6 + 0.1, -273.15, 1e-9])
def test_constant_up_to_rounding_gives_zero_shape_features(value: float) -> None:
    # The mean of 60 copies of 0.1 is not exactly 0.1: skew/kurt must not be noise ratios.
    got = features_of([value] * 60)
    assert got["skew"] == 0
    assert got["kurt"] == 0
    assert got["std"] == pytest.approx(0, abs=1e-9 * abs(value))
    assert got["crest"] == pytest.approx(1)
    assert all(math.isfinite(v) for v in got.values())


def test_matches_scipy_and_polyfit_on_random_windows() -> None:
    rng = np.random.default_rng(7)
    windows = rng.gamma(2.0, size=(50, 30, 3)) * [1, 10, 1000] + [0, -5, 1e4]
    got = extract(windows).reshape(50, 3, len(FEATURE_KINDS))
    slopes = np.array(
        [[np.polyfit(np.arange(30), w[:, s], 1)[0] for s in range(3)] for w in windows]
    )
    expected = {
        "mean": windows.mean(axis=1),
        "std": windows.std(axis=1),
        "rms": np.sqrt((windows**2).mean(axis=1)),
        "min": windows.min(axis=1),
        "max": windows.max(axis=1),
        "ptp": np.ptp(windows, axis=1),
        "skew": stats.skew(windows, axis=1),
        "kurt": stats.kurtosis(windows, axis=1),
        "crest": np.abs(windows).max(axis=1) / np.sqrt((windows**2).mean(axis=1)),
        "slope": slopes,
        "last": windows[:, -1, :],
    }
    for column, kind in enumerate(FEATURE_KINDS):
        np.testing.assert_allclose(got[:, :, column], expected[kind], rtol=1e-9, err_msg=kind)


def test_batch_rows_equal_single_window_results() -> None:
    rng = np.random.default_rng(1)
    # More windows than one internal block (2**17 values / (60 * 6) = 364 windows).
    windows = rng.normal(size=(1000, 60, 6)).cumsum(axis=1)
    batch = extract(windows)
    assert batch.shape == (1000, 66)
    assert batch.dtype == np.float64
    for i in (0, 1, 363, 364, 365, 999):
        np.testing.assert_allclose(batch[i], extract(windows[i : i + 1])[0], rtol=1e-13)


def test_columns_are_signal_major_and_follow_the_kinds_given() -> None:
    rng = np.random.default_rng(2)
    windows = rng.normal(size=(4, 10, 2))
    full = extract(windows)
    kinds = ["slope", "mean"]
    picked = extract(windows, kinds)
    names = feature_names(["a", "b"], kinds)
    assert names == ["a.slope", "a.mean", "b.slope", "b.mean"]
    all_names = feature_names(["a", "b"])
    for column, name in enumerate(names):
        np.testing.assert_array_equal(picked[:, column], full[:, all_names.index(name)])
    np.testing.assert_allclose(picked[:, 3], windows[:, :, 1].mean(axis=1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_sample_makes_all_features_of_its_signal_nan(bad: float) -> None:
    windows = np.tile(np.arange(8.0)[None, :, None], (2, 1, 3))
    windows[1, 3, 1] = bad  # second window, second signal, a sample in the middle
    got = extract(windows).reshape(2, 3, len(FEATURE_KINDS))
    assert np.isnan(got[1, 1]).all()
    assert np.isfinite(got[1, [0, 2]]).all()
    assert np.isfinite(got[0]).all()


def test_input_is_not_modified_and_other_dtypes_agree() -> None:
    # One signal: the transposed copy is contiguous already, the in-place centring must
    # still work on a copy.
    windows = np.arange(20, dtype=np.float64).reshape(2, 10, 1) ** 2
    before = windows.copy()
    as_float = extract(windows)
    np.testing.assert_array_equal(windows, before)
    np.testing.assert_array_equal(extract(windows.astype(np.int64)), as_float)
    np.testing.assert_allclose(extract(windows.astype(np.float32)), as_float, rtol=1e-6)


def test_window_alignment_ends_at_the_last_sample() -> None:
    series = np.arange(20.0).reshape(10, 2)  # row r = [2r, 2r + 1]
    cases = {
        WindowSpec(4, 3): [0, 3, 6],  # (10 - 4) % 3 == 0: starts at row 0
        WindowSpec(4, 4): [2, 6],  # (10 - 4) % 4 == 2: rows 0-1 dropped
        WindowSpec(4, 1): [0, 1, 2, 3, 4, 5, 6],
        WindowSpec(10, 5): [0],
    }
    for spec, starts in cases.items():
        windows = sliding_windows(series, spec)
        assert window_starts(10, spec).tolist() == starts
        assert window_ends(10, spec).tolist() == [s + spec.length - 1 for s in starts]
        assert windows.shape == (len(starts), spec.length, 2)
        for window, start in zip(windows, starts, strict=True):
            np.testing.assert_array_equal(window, series[start : start + spec.length])
        assert windows[-1, -1].tolist() == series[-1].tolist()


def test_sliding_windows_is_a_read_only_view() -> None:
    series = np.random.default_rng(3).normal(size=(100, 3))
    windows = sliding_windows(series, WindowSpec(20, 7))
    assert np.shares_memory(windows, series)
    assert not windows.flags.writeable


def test_fewer_samples_than_a_window_give_no_windows_and_no_features() -> None:
    spec = WindowSpec(5, 1)
    windows = sliding_windows(np.zeros((4, 3)), spec)
    assert windows.shape == (0, 5, 3)
    assert window_starts(4, spec).size == 0
    assert extract(windows).shape == (0, 3 * len(FEATURE_KINDS))


@pytest.mark.parametrize(
    ("length", "step", "message"),
    [
        (1, 1, "length must be an integer >= 2"),
        (10, 0, "step must be an integer >= 1"),
        (True, 1, "length must be an integer"),
        (10.0, 1, "length must be an integer"),
    ],
)
def test_window_spec_rejects_bad_values(length: object, step: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowSpec(length, step)  # type: ignore[arg-type]


def test_bad_kinds_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown feature kind\(s\) \['median'\]"):
        check_kinds(["mean", "median"])
    with pytest.raises(ValueError, match="more than once"):
        check_kinds(["mean", "mean"])
    with pytest.raises(ValueError, match="at least one"):
        extract(np.zeros((1, 4, 1)), [])
    with pytest.raises(ValueError, match="must be 3-D"):
        extract(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="must be 2-D"):
        sliding_windows(np.zeros(10), WindowSpec(2, 1))
