"""The RUL recipe's prediction interval (issue #13): the interval by hand, its calibration
where the truth is known, its place in the manifest, the ONNX file's Low/High against the
Python model's, and `uvelka train rul` / `uvelka evaluate rul` printing it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from analytics.manifest import Manifest, ManifestError, TrainingData
from analytics.rul_interval import RulInterval
from analytics.training import rul
from analytics.training.datasets import load_cmapss
from analytics.training.export import export_onnx
from analytics.training.rul_calibration import (
    NOMINAL,
    OutOfFold,
    calibrate,
    conformal_quantile,
    fit_rul_with_interval,
    out_of_fold,
    run_folds,
    verify_interval,
)
from tests.analytics.test_rul import uvelka, write_cmapss

INTERVAL = RulInterval(0.9, (10.0, 50.0), (2.0, 10.0), (4.0, 20.0), "by hand")


def test_bounds_interpolate_between_knots_and_never_go_below_zero() -> None:
    low, high = INTERVAL.bounds(np.array([30.0, 1.0, 100.0, np.nan]))
    # At 30 the offsets are half-way: 6 below, 12 above; beyond the knots they stay.
    np.testing.assert_allclose(low[:3], [24.0, 0.0, 90.0])
    np.testing.assert_allclose(high[:3], [42.0, 5.0, 120.0])
    assert np.isnan(low[3])
    assert np.isnan(high[3])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nominal": 1.0}, "nominal must be a number between 0 and 1"),
        ({"knots": (50.0, 10.0)}, "knots must be strictly increasing"),
        ({"lower": (2.0,)}, "one value each per knot"),
        ({"upper": (4.0, -1.0)}, "lower and upper are distances"),
        ({"upper": (4.0, float("nan"))}, "upper must be a non-empty list of finite numbers"),
        ({"method": " "}, "method must describe the calibration"),
    ],
)
def test_an_invalid_interval_is_refused(change: dict[str, object], message: str) -> None:
    fields = INTERVAL.to_dict() | change
    with pytest.raises(ValueError, match=message):
        RulInterval(**fields)


def test_conformal_quantile_takes_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(scores, 0.99) == 19.0  # rank 20 is past n: the largest


def test_runs_are_dealt_into_folds_of_equal_size() -> None:
    fold = run_folds(23, 5, seed=0)
    assert sorted(np.bincount(fold)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(fold, run_folds(23, 5, seed=0))
    with pytest.raises(ValueError, match="needs at least 5 run-to-failure runs"):
        run_folds(4, 5, seed=0)


def test_calibration_covers_the_nominal_share_where_the_truth_is_known() -> None:
    """Errors drawn around the point value with a spread that grows with it, skewed
    upwards: the interval must cover ~90 % of fresh draws, at low and high levels alike."""
    rng = np.random.default_rng(3)

    def draws(n: int) -> tuple[np.ndarray, np.ndarray]:
        p = rng.uniform(0.0, 125.0, n)
        spread = 1.0 + 0.2 * p
        error = np.where(
            rng.random(n) < 0.5, -np.abs(rng.normal(0, spread)), np.abs(rng.normal(0, 2.0 * spread))
        )
        return p, np.maximum(p + error, 0.0)

    p, true = draws(20_000)
    interval = calibrate(OutOfFold(p, true, np.arange(len(p)) % 50, 5))
    assert interval.nominal == NOMINAL
    assert len(interval.knots) == 6
    fresh_p, fresh_true = draws(20_000)
    low, high = interval.bounds(fresh_p)
    inside = (low <= fresh_true) & (fresh_true <= high)
    assert inside.mean() == pytest.approx(0.9, abs=0.015)
    for band in (fresh_p < 40, fresh_p > 85):  # adaptive: not covered by width elsewhere
        assert inside[band].mean() == pytest.approx(0.9, abs=0.04)
    # Wider where the spread is larger, and wider above than below (the skew).
    assert (high - low)[fresh_p > 85].mean() > 3 * (high - low)[fresh_p < 40].mean()
    assert np.mean(high - fresh_p) > 1.5 * np.mean(fresh_p - low)


def test_tied_point_values_share_one_bin() -> None:
    p = np.r_[np.full(100, 125.0), np.linspace(0, 100, 40)]
    interval = calibrate(OutOfFold(p, p + 1.0, np.zeros(len(p), dtype=int), 5))
    assert list(interval.knots) == sorted(set(interval.knots))
    assert interval.knots[-1] == 125.0


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cmapss(tmp_path_factory.mktemp("engines"), train_units=15, test_units=20, seed=4)


@pytest.fixture(scope="module")
def fitted(engines: Path) -> rul.RulFit:
    subset = load_cmapss(engines)["FD001"]
    return fit_rul_with_interval(rul.cmapss_runs(subset.train, "synthetic"))


def test_out_of_fold_rows_are_predicted_without_their_run(engines: Path) -> None:
    data = rul.cmapss_runs(load_cmapss(engines)["FD001"].train, "synthetic")
    oof = out_of_fold(data, rul.CAP, folds=3)
    fold = run_folds(data.n_runs, 3, seed=0)
    held = data.subset(fold == 0)
    fit = rul.fit_rul(data.subset(fold != 0))
    mine = np.isin(oof.runs, np.flatnonzero(fold == 0))
    np.testing.assert_array_equal(
        oof.predicted[mine], fit.regressor.predict(rul.run_features(held, fit.spec))
    )
    np.testing.assert_array_equal(oof.true[mine], np.maximum(held.remaining, 0.0))
    assert sorted(np.unique(oof.runs)) == list(range(data.n_runs))


def test_the_recipe_covers_fresh_engines(fitted: rul.RulFit, engines: Path) -> None:
    """Every cycle of 20 engines the recipe never saw, against their known remaining life."""
    subset = load_cmapss(engines)["FD001"]
    assert fitted.interval is not None
    # The point model is the recipe's without an interval: same predictions.
    plain = rul.fit_rul(rul.cmapss_runs(subset.train, "synthetic"))
    test_train = load_cmapss(
        write_cmapss(engines.parent / "fresh", train_units=20, test_units=0, seed=11)
    )["FD001"].train
    fresh = rul.cmapss_runs(test_train, "fresh")
    features = rul.run_features(fresh, fitted.spec)
    predicted = fitted.regressor.predict(features)
    np.testing.assert_array_equal(predicted, plain.regressor.predict(features))
    low, high = fitted.interval.bounds(predicted)
    true = fresh.remaining
    coverage = np.mean((low <= true) & (true <= high))
    assert 0.8 <= coverage <= 0.97
    assert np.all(low <= predicted)
    assert np.all(predicted <= high)


def test_the_onnx_file_gives_the_python_model_s_low_and_high(
    fitted: rul.RulFit, engines: Path, tmp_path: Path
) -> None:
    subset = load_cmapss(engines)["FD001"]
    assert subset.test is not None
    held = rul.run_features(rul.cmapss_runs(subset.test, "held"), fitted.spec)
    path = tmp_path / "engine.onnx"
    manifest = fitted.manifest("engine", TrainingData("ab" * 32, "synthetic"))
    export_onnx(fitted.regressor, fitted.spec.n_features, manifest, path, dtype="float64")
    assert verify_interval(fitted, path, held) <= 1e-4
    model = Model.load(path)
    assert model.manifest.rul_interval == fitted.interval
    got_low, got_high = model.manifest.rul_interval.bounds(model.score(held))  # type: ignore[union-attr]
    want_low, want_high = fitted.interval.bounds(fitted.regressor.predict(held))  # type: ignore[union-attr]
    np.testing.assert_allclose(got_low, want_low, atol=1e-4)
    np.testing.assert_allclose(got_high, want_high, atol=1e-4)


def test_the_manifest_carries_the_interval_and_reads_files_without_one(
    fitted: rul.RulFit,
) -> None:
    manifest = fitted.manifest("engine", TrainingData("ab" * 32, "synthetic"))
    raw = json.loads(manifest.to_json())
    assert raw["rul_interval"]["nominal"] == 0.9
    assert Manifest.from_json(manifest.to_json()) == manifest
    del raw["rul_interval"]  # a file of a RUL model trained before issue #13
    assert Manifest.from_dict(raw).rul_interval is None
    raw["rul_interval"] = INTERVAL.to_dict() | {"knots": [50, 10]}
    with pytest.raises(ManifestError, match="rul_interval: knots must be strictly increasing"):
        Manifest.from_dict(raw)
    raw["rul_interval"] = INTERVAL.to_dict() | {"extra": 1}
    with pytest.raises(ManifestError, match=r"rul_interval: unknown field\(s\) extra"):
        Manifest.from_dict(raw)


def test_train_and_evaluate_print_the_interval(
    engines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "engine.onnx"
    code, text, err = uvelka(capsys, "train", "rul", "--data", engines, "--out", out)
    assert code == 0, err
    assert "interval: 90% nominal, Mondrian split-conformal in" in text
    assert "interval: Low/High of the file agree to" in text
    code, text, err = uvelka(capsys, "evaluate", "rul", "--data", engines, "--model", out, "--json")
    assert code == 0, err
    interval = json.loads(text)["interval"]
    assert interval["nominal"] == 0.9
    assert 0.0 <= interval["coverage"] <= 1.0
    assert interval["mean_width"] > 0
    code, text, err = uvelka(capsys, "evaluate", "rul", "--data", engines, "--model", out)
    assert code == 0, err
    assert "interval at 90% nominal: coverage " in text
