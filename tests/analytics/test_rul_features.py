"""RUL buffer features: hand-computed values, the training path equals the gateway's path,
operating conditions, the per-asset state, and the spec inside the manifest."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from analytics.features import WindowSpec
from analytics.manifest import Manifest, ManifestError, Recipe, TrainingData
from analytics.rul_features import (
    RulFeatureSpec,
    RulState,
    history_features,
    nearest_condition,
    rul_features,
    rul_series_features,
)

SHA = "cd" * 32


def plain_spec(n_signals: int = 1, **changes: Any) -> RulFeatureSpec:
    """Identity normalisation (mean 0, std 1), one condition."""
    fields: dict[str, Any] = {
        "signals": tuple(f"s{i}" for i in range(n_signals)),
        "conditions": (),
        "centres": np.zeros((1, 0)),
        "mean": np.zeros((1, n_signals)),
        "std": np.ones((1, n_signals)),
    }
    return RulFeatureSpec(**(fields | changes))


def two_condition_spec(**changes: Any) -> RulFeatureSpec:
    """Signals a, b; condition input `speed` with centres 0 and 10."""
    fields: dict[str, Any] = {
        "signals": ("a", "b"),
        "conditions": ("speed",),
        "centres": [[0.0], [10.0]],
        "mean": [[1.0, 2.0], [11.0, 22.0]],
        "std": [[0.5, 1.0], [2.0, 4.0]],
    }
    return RulFeatureSpec(**(fields | changes))


def test_features_of_a_short_window_by_hand() -> None:
    spec = plain_spec(recent=2, buffer=4, baseline=2, alphas=(0.5,))
    assert spec.kinds == ("mean2", "slope", "ewm0.5", "mean2-base", "ewm0.5-base")
    assert spec.feature_names() == [f"s0.{k}" for k in spec.kinds] + ["cycle"]
    # Samples 1, 2, 4 at cycle 3; baseline = mean of the first two = 1.5.
    # mean2 = 3; slope = (-1*1 + 0*2 + 1*4) / 2 = 1.5; EWMA 0.5 started at 1: 1.5, 2.75.
    got = rul_features(np.array([[1.0], [2.0], [4.0]]), np.array([1.5]), 3, spec)
    np.testing.assert_allclose(got, [3.0, 1.5, 2.75, 1.5, 1.25, 3.0], rtol=0, atol=1e-12)


def test_windows_of_one_and_two_samples() -> None:
    spec = plain_spec()  # the recipe's constants: recent 20, alphas 0.1 and 0.05
    one = rul_features(np.array([[7.0]]), np.array([7.0]), 1, spec)
    # n = 1: every level is the sample, the slope 0, the differences to the baseline 0.
    np.testing.assert_allclose(one, [7, 0, 7, 7, 0, 0, 0, 1], rtol=0, atol=1e-12)
    two = rul_features(np.array([[1.0], [3.0]]), np.array([2.0]), 2, spec)
    ewm1, ewm05 = 0.1 * 3 + 0.9 * 1, 0.05 * 3 + 0.95 * 1
    np.testing.assert_allclose(
        two, [2, 2, ewm1, ewm05, 0, ewm1 - 2, ewm05 - 2, 2], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("n", [1, 2, 3, 19, 20, 21, 57, 100])
def test_levels_follow_their_definitions(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2)) + np.arange(n)[:, None] * [0.1, -0.3]
    got = rul_features(x, np.zeros(2), n, plain_spec(2)).reshape(-1)
    for signal in range(2):
        column = x[:, signal]
        mean20, slope, ewm1, ewm05 = got[signal * 7 : signal * 7 + 4]
        assert mean20 == pytest.approx(column[-20:].mean(), abs=1e-12)
        expected_slope = np.polyfit(np.arange(n), column, 1)[0] if n > 1 else 0.0
        assert slope == pytest.approx(expected_slope, abs=1e-9)
        for alpha, value in ((0.1, ewm1), (0.05, ewm05)):
            level = column[0]  # the recursion, started at the oldest sample
            for sample in column[1:]:
                level = alpha * sample + (1 - alpha) * level
            assert value == pytest.approx(level, abs=1e-12)
    assert got[-1] == n


def test_baseline_differences_and_cycle_beyond_the_buffer() -> None:
    spec = plain_spec(recent=2, buffer=3, baseline=2, alphas=(0.5,))
    rows = np.array([[0.0], [2.0], [5.0], [6.0], [8.0]])
    # At cycle 5 the window is the last 3 samples: 5, 6, 8; the baseline (0 + 2) / 2 = 1.
    got = history_features(rows, spec)
    ewm = 0.25 * 5 + 0.25 * 6 + 0.5 * 8
    np.testing.assert_allclose(got, [7.0, 1.5, ewm, 6.0, ewm - 1.0, 5.0], rtol=0, atol=1e-12)


def test_normalisation_per_operating_condition() -> None:
    spec = two_condition_spec()
    assert spec.inputs == ("a", "b", "speed")
    rows = np.array([
        [2.0, 4.0, 1.0],  # near speed 0: (2 - 1) / 0.5, (4 - 2) / 1
        [15.0, 26.0, 9.0],  # near speed 10: (15 - 11) / 2, (26 - 22) / 4
        [1.0, 2.0, np.nan],  # no condition: the whole row is missing
        [np.nan, 2.0, 0.0],  # one signal missing: the whole row too
    ])  # fmt: skip
    np.testing.assert_array_equal(spec.condition_of(rows[:2]), [0, 1])
    z = spec.normalise(rows)
    np.testing.assert_allclose(z[:2], [[2.0, 2.0], [2.0, 1.0]])
    assert np.isnan(z[2:]).all()


def test_nearest_condition_uses_the_max_norm() -> None:
    centres = np.array([[0.5, 0.5], [0.6, 0.0]])
    # From the origin: max-norm 0.5 vs 0.6 picks centre 0; Euclidean (0.71 vs 0.6) would not.
    np.testing.assert_array_equal(nearest_condition(np.zeros((1, 2)), centres), [0])
    np.testing.assert_array_equal(nearest_condition(np.array([[0.6, 0.1]]), centres), [1])
    np.testing.assert_array_equal(nearest_condition(np.zeros((3, 0)), np.zeros((1, 0))), [0] * 3)


def random_run(n_rows: int, seed: int, missing: tuple[int, ...] = ()) -> np.ndarray:
    """Rows of two_condition_spec's inputs: drifting signals, speed switching 0 / 10."""
    rng = np.random.default_rng(seed)
    speed = np.where(rng.random(n_rows) < 0.3, 10.0, 0.0) + rng.normal(0, 0.01, n_rows)
    drift = np.linspace(0, 3, n_rows)[:, None]
    signals = (
        np.array([1.0, 2.0]) + speed[:, None] * [1.0, 2.0] + drift + rng.normal(size=(n_rows, 2))
    )
    rows = np.column_stack((signals, speed))
    for row in missing:
        rows[row, row % 3] = np.nan
    return rows


@pytest.mark.parametrize(
    ("n_rows", "buffer", "missing"),
    [(250, 100, ()), (60, 100, ()), (250, 100, (0, 5, 30, 140)), (40, 7, (3, 20))],
)
def test_training_path_equals_the_gateway_path(
    n_rows: int, buffer: int, missing: tuple[int, ...]
) -> None:
    spec = two_condition_spec(buffer=buffer, recent=min(20, buffer))
    rows = random_run(n_rows, seed=n_rows + buffer, missing=missing)
    batch = rul_series_features(rows, spec)
    assert batch.shape == (n_rows, spec.n_features) == (n_rows, 2 * 7 + 1)
    state = RulState.for_spec(spec)
    for t in range(n_rows):
        state.update(rows[t])
        window = rows[max(0, t - buffer + 1) : t + 1]
        one = state.features(window, spec)
        np.testing.assert_allclose(batch[t], one, rtol=1e-12, atol=1e-12, err_msg=f"row {t}")
        # A missing sample poisons every feature of the windows that hold it, and only those.
        assert np.isfinite(one).all() == np.isfinite(window).all()
    # A missing sample in the first rows does not count towards the baseline.
    expected_baseline = spec.normalise(rows[np.isfinite(rows).all(axis=1)][:20]).mean(axis=0)
    np.testing.assert_allclose(state.baseline(spec), expected_baseline, rtol=0, atol=1e-12)


def test_an_empty_run_has_no_rows() -> None:
    assert rul_series_features(np.empty((0, 3)), two_condition_spec()).shape == (0, 15)


def test_window_must_be_the_newest_samples_since_commissioning() -> None:
    spec = plain_spec(buffer=4, recent=2)
    with pytest.raises(ValueError, match=r"a window of 3 rows at cycle 2: expected 1 to 2 rows"):
        rul_features(np.zeros((3, 1)), np.zeros(1), 2, spec)
    with pytest.raises(ValueError, match="expected 1 to 4 rows"):
        rul_features(np.zeros((5, 1)), np.zeros(1), 9, spec)
    # After a restart the buffer may hold fewer rows than the cycle allows: still a score.
    assert rul_features(np.zeros((2, 1)), np.zeros(1), 9, spec)[-1] == 9
    with pytest.raises(ValueError, match=r"rows must be \(n, 1\)"):
        rul_features(np.zeros((2, 2)), np.zeros(1), 2, spec)
    with pytest.raises(ValueError, match=r"baseline must be \(1,\)"):
        rul_features(np.zeros((2, 1)), np.zeros(2), 2, spec)
    with pytest.raises(ValueError, match="cycle must be an integer >= 1"):
        rul_features(np.zeros((1, 1)), np.zeros(1), 0, spec)


def test_state_counts_samples_and_keeps_complete_early_rows() -> None:
    spec = plain_spec(2, baseline=3)
    state = RulState.for_spec(spec)
    assert np.isnan(state.baseline(spec)).all()
    assert not state.baseline_complete
    for row in ([1, 2], [np.nan, 5], [3, 4], [5, 6], [7, 8]):
        state.update(np.array(row, dtype=float))
    assert state.cycle == 5
    assert state.baseline_complete
    np.testing.assert_array_equal(state.commissioning_rows, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_allclose(state.baseline(spec), [3.0, 4.0])
    with pytest.raises(ValueError, match="a row has 2 values"):
        state.update(np.zeros(3))


def test_state_round_trip_through_json() -> None:
    spec = two_condition_spec()
    rows = random_run(30, seed=3, missing=(2,))
    state = RulState.for_spec(spec)
    for row in rows[:25]:
        state.update(row)
    again = RulState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert (again.cycle, again.baseline_complete) == (25, True)
    for row in rows[25:]:
        state.update(row)
        again.update(row)
    np.testing.assert_array_equal(again.features(rows[-30:], spec), state.features(rows, spec))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cycle": 1}, "cycle must be an integer >= 2"),
        ({"commissioning": [[1, 2, 3]] * 21}, "at most 20 rows of 3 numbers"),
        ({"commissioning": [[1, 2]]}, "at most 20 rows of 3 numbers"),
        ({"commissioning": [[1, None, 3]]}, "must be finite"),
        ({"commissioning": "x"}, "must be a list of rows"),
        ({"inputs": "abc"}, "inputs must be a list of non-empty names"),
        ({"baseline_rows": 0}, "baseline_rows must be an integer >= 1"),
    ],
)
def test_a_damaged_state_is_refused(change: dict[str, Any], message: str) -> None:
    raw = {
        "inputs": ["a", "b", "speed"],
        "baseline_rows": 20,
        "cycle": 5,
        "commissioning": [[1, 2, 0], [1, 2, 0]],
    } | change
    with pytest.raises(ValueError, match=message):
        RulState.from_dict(raw)
    with pytest.raises(ValueError, match="needs commissioning, cycle"):
        RulState.from_dict({"inputs": ["a"], "baseline_rows": 20})


def test_a_state_serves_only_models_with_its_inputs() -> None:
    state = RulState.for_spec(two_condition_spec())
    assert state.compatible(two_condition_spec())
    other = plain_spec(2)
    assert not state.compatible(other)
    with pytest.raises(ValueError, match="start a new state"):
        state.baseline(other)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"std": [[0.5, 0.0], [2.0, 4.0]]}, "std must be > 0"),
        ({"std": [[0.5, 1.0]]}, r"std must have shape \[2, 2\]"),
        ({"centres": [[0.0, 1.0], [10.0, 1.0]]}, r"centres must have shape \[2, 1\]"),
        ({"mean": [[1.0, np.inf], [1.0, 1.0]]}, "mean must be finite"),
        ({"conditions": ()}, "exactly one without condition inputs"),
        ({"conditions": ("a",)}, "a: both a signal and a condition input"),
        ({"signals": ("a", "a")}, "signals: listed more than once: a"),
        ({"alphas": (0.1, 1.0)}, "alphas must be numbers between 0 and 1"),
        ({"alphas": (0.1, 0.1)}, "repeated feature names"),
        ({"recent": 101}, r"recent \(101\) must not exceed buffer \(100\)"),
        ({"buffer": 1, "recent": 1}, "buffer must be an integer >= 2"),
        ({"sample_period_s": 0}, "sample_period_s must be a number > 0"),
    ],
)
def test_an_invalid_spec_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        two_condition_spec(**change)


def rul_manifest(spec: RulFeatureSpec, **changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "kind": "rul",
        "name": "engine-rul",
        "inputs": spec.inputs,
        "window": WindowSpec(spec.buffer, 1),
        "feature_kinds": spec.kinds,
        "score_range": (0.0, 125.0),
        "output_unit": "cycles",
        "data": TrainingData(SHA, "synthetic runs"),
        "seed": 0,
        "recipe": Recipe("gradient-boosting-on-buffer-features", {}),
        "rul_features": spec,
    }
    return Manifest(**(fields | changes))


def test_manifest_carries_the_spec_through_json() -> None:
    spec = two_condition_spec(sample_period_s=60)
    manifest = rul_manifest(spec)
    assert manifest.n_features == 15
    assert manifest.feature_names() == spec.feature_names()
    assert manifest.feature_names()[-1] == "cycle"
    raw = json.loads(manifest.to_json())
    assert raw["rul_features"] == {
        "signals": ["a", "b"],
        "conditions": ["speed"],
        "centres": [[0.0], [10.0]],
        "mean": [[1.0, 2.0], [11.0, 22.0]],
        "std": [[0.5, 1.0], [2.0, 4.0]],
        "buffer": 100,
        "recent": 20,
        "baseline": 20,
        "alphas": [0.1, 0.05],
        "sample_period_s": 60.0,
    }
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.rul_features == spec
    one_condition = rul_manifest(plain_spec(3))
    assert Manifest.from_json(one_condition.to_json()) == one_condition


def test_a_manifest_must_agree_with_its_spec() -> None:
    spec = two_condition_spec()
    with pytest.raises(ManifestError) as caught:
        rul_manifest(
            spec,
            inputs=("a", "speed", "b"),
            window=WindowSpec(60, 10),
            feature_kinds=("mean", "std"),
        )
    problems = caught.value.problems
    assert (
        "inputs: must be rul_features' signals then conditions ['a', 'b', 'speed']" in (problems[0])
    )
    assert problems[1:] == [
        "window: must be length 100 (rul_features.buffer), step 1 (got 60, 10)",
        "feature_kinds: must be rul_features' kinds ['mean20', 'slope', 'ewm0.1', 'ewm0.05',"
        " 'mean20-base', 'ewm0.1-base', 'ewm0.05-base'] (got ['mean', 'std'])",
    ]
    with pytest.raises(ManifestError, match="rul_features: only a rul model has them"):
        rul_manifest(spec, kind="anomaly", threshold=1.0, output_unit=None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"std": [[0.5, 1.0], [2.0, -1.0]]}, "rul_features: std must be > 0"),
        ({"mean": "x"}, "rul_features.mean: must be an array of rows, got a string"),
        ({"alphas": [0.1, "x"]}, r"rul_features.alphas\[1\]: must be a number, got a string"),
        ({"extra": 1}, "rul_features: unknown field"),
    ],
)
def test_a_damaged_spec_in_json_is_reported_with_its_path(
    change: dict[str, Any], message: str
) -> None:
    raw = json.loads(rul_manifest(two_condition_spec()).to_json())
    raw["rul_features"] |= change
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(raw)
