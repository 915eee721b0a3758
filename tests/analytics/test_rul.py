"""The RUL recipe: conditions, signal selection, run data from CSV, the regressor, its ONNX
export, and `uvelka train rul` through the real CLI entry point."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from analytics.commands import RUL_CAP
from analytics.inference import Model, ModelError
from analytics.manifest import TrainingData
from analytics.rul_features import history_features, rul_series_features
from analytics.training import rul
from analytics.training.anomaly import RecipeError
from analytics.training.datasets import (
    CMAPSS_SENSORS,
    DatasetError,
    load_cmapss,
    load_recordings,
)
from analytics.training.export import export_onnx, to_onnx, verify
from analytics.training.rul import HGB_PARAMS, RulRegressor
from gateway.__main__ import main

# Sensors the synthetic engines wear in (the others are constant, as 7 of FD001's are).
WEARING = ("T24", "T30", "T50", "Ps30")
CONSTANT = 518.67
# Two settings per operating condition (the third is 100 throughout, as in C-MAPSS).
CONDITIONS = ((0.0, 0.0), (20.0, 0.7))


def engine(unit: int, length: int, rng: np.random.Generator, conditions: int = 1) -> np.ndarray:
    """C-MAPSS rows (length, 26) of one engine run to failure at `length` cycles."""
    rows = np.full((length, 26), CONSTANT)
    rows[:, 0] = unit
    rows[:, 1] = np.arange(1, length + 1)
    condition = rng.integers(0, conditions, length)
    settings = np.array(CONDITIONS)[condition] + rng.normal(0, 0.002, (length, 2))
    rows[:, 2:4] = np.round(settings, 4)
    rows[:, 4] = 100.0
    wear = (np.arange(length) / length) ** 2
    offset = 10.0 * condition  # another condition shifts every wearing sensor
    for k, name in enumerate(WEARING):
        column = 5 + CMAPSS_SENSORS.index(name)
        level = 100.0 * (k + 1) + offset + (k + 1) * 4.0 * wear
        rows[:, column] = np.round(level + rng.normal(0, 0.3, length), 2)
    rows[:, 5 + CMAPSS_SENSORS.index("P15")] = rng.choice([21.60, 21.61], length)
    # Three distinct values, but a spread far below its 0.01 resolution: left out.
    phi = np.full(length, 521.50)
    phi[rng.integers(0, length, 2)] = [521.51, 521.52]
    rows[:, 5 + CMAPSS_SENSORS.index("phi")] = phi
    return rows


def write_cmapss(
    folder: Path,
    name: str = "FD001",
    train_units: int = 12,
    test_units: int = 5,
    seed: int = 0,
    conditions: int = 1,
) -> Path:
    """train_/test_/RUL_<name>.txt of synthetic engines, written like NASA's files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train = [
        engine(u, int(rng.integers(90, 150)), rng, conditions) for u in range(1, train_units + 1)
    ]
    _write_rows(folder / f"train_{name}.txt", np.vstack(train))
    if test_units:
        tests, truth = [], []
        for unit in range(1, test_units + 1):
            full = engine(unit, int(rng.integers(90, 150)), rng, conditions)
            cut = int(rng.integers(30, len(full) - 5))
            tests.append(full[:cut])
            truth.append(len(full) - cut)
        _write_rows(folder / f"test_{name}.txt", np.vstack(tests))
        (folder / f"RUL_{name}.txt").write_text("".join(f"{t}\n" for t in truth))
    return folder


def _write_rows(path: Path, rows: np.ndarray) -> None:
    lines = [
        " ".join([f"{int(r[0])}", f"{int(r[1])}", *(f"{v:.4f}" for v in r[2:])]) + "  "
        for r in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def write_run_csv(path: Path, runs: list[int], *, sep: str = ",", sample_s: int = 60) -> Path:
    """A plain CSV like `uvelka simulate --record`: time, signals, truth, run id."""
    rng = np.random.default_rng(len(runs))
    start = datetime(2026, 1, 1)
    lines = [
        sep.join(["timestamp", "vibration", "temperature", "anomaly", "remaining_life_h", "run"])
    ]
    row = 0
    for run, length in enumerate(runs):
        for i in range(length):
            wear = i / length
            time = start + timedelta(seconds=sample_s * row)
            left_h = (length - 1 - i) * sample_s / 3600
            vibration = 1.0 + 3.0 * wear**2 + rng.normal(0, 0.05)
            temperature = 40.0 + 5.0 * wear + rng.normal(0, 0.2)
            cells = [
                time.isoformat(),
                f"{vibration:.5f}",
                f"{temperature:.4f}",
                str(int(wear > 0.8)),
            ]
            lines.append(sep.join([*cells, f"{left_h:.4f}", str(run)]))
            row += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def uvelka(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cmapss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cmapss(tmp_path_factory.mktemp("cmapss"))


@pytest.fixture(scope="module")
def fitted(cmapss: Path) -> rul.RulFit:
    subset = load_cmapss(cmapss)["FD001"]
    return rul.fit_rul(rul.cmapss_runs(subset.train, "synthetic FD001"))


def test_operating_conditions_cluster_settings_and_drop_rare_ones() -> None:
    rng = np.random.default_rng(1)
    a = np.array([0.0, 0.0]) + rng.uniform(-0.02, 0.02, (150, 2))
    b = np.array([10.0, 0.5]) + rng.uniform(-0.02, 0.02, (99, 2))
    rare = np.array([[20.0, 1.0]])  # 1 row in 250: under 1 %, not a condition of its own
    centres = rul.operating_conditions(np.vstack((a, rare, b)))
    np.testing.assert_allclose(centres, [a.mean(axis=0), b.mean(axis=0)])
    assert rul.operating_conditions(np.zeros((5, 0))).shape == (1, 0)


def test_signal_selection_and_normalisation_on_one_condition(cmapss: Path) -> None:
    data = rul.cmapss_runs(load_cmapss(cmapss)["FD001"].train, "synthetic")
    spec, excluded = rul.fit_spec(data)
    assert spec.signals == WEARING
    assert spec.conditions == ()
    assert excluded["T2"] == "1 distinct value(s), needs 3"
    assert excluded["P15"] == "2 distinct value(s), needs 3"
    assert excluded["phi"].startswith("within-condition std 0.00")
    assert excluded["phi"].endswith("< 0.5 x its resolution 0.01")
    assert excluded["setting1"] == "one operating condition: not needed"
    values = data.column_values(WEARING)
    np.testing.assert_allclose(spec.mean, [values.mean(axis=0)])
    np.testing.assert_allclose(spec.std, [values.std(axis=0)])
    assert spec.sample_period_s is None


def test_several_conditions_become_inputs_and_normalise_apart(tmp_path: Path) -> None:
    data = rul.cmapss_runs(load_cmapss(write_cmapss(tmp_path, conditions=2))["FD001"].train, "x")
    spec, excluded = rul.fit_spec(data)
    assert spec.conditions == ("setting1", "setting2", "setting3")
    assert spec.inputs == (*WEARING, "setting1", "setting2", "setting3")
    np.testing.assert_allclose(spec.centres[:, :2], CONDITIONS, atol=0.001)
    in_second = data.column_values(("setting1",))[:, 0] > 10
    values = data.column_values(WEARING)
    np.testing.assert_allclose(spec.mean[1], values[in_second].mean(axis=0))
    # Normalised per condition, a wearing sensor no longer jumps by 10 with the condition.
    z = spec.normalise(data.column_values(spec.inputs))
    assert abs(z[in_second].mean()) < 0.01
    assert abs(z[~in_second].mean()) < 0.01
    assert "setting1" not in excluded
    # Exported, the model takes the settings as inputs and scores like scikit-learn.
    fit = rul.fit_rul(data)
    path = tmp_path / "two-conditions.onnx"
    manifest = fit.manifest("two", TrainingData("ab" * 32, "synthetic"))
    export_onnx(fit.regressor, fit.spec.n_features, manifest, path, dtype="float64")
    Model.load(path).smoke_test()
    assert verify(fit.regressor, path, rul.run_features(data, fit.spec)[::7]) <= 1e-4


def test_chosen_signals_replace_the_rule(cmapss: Path) -> None:
    data = rul.cmapss_runs(load_cmapss(cmapss)["FD001"].train, "synthetic")
    spec, excluded = rul.fit_spec(data, ["T50", "P15"])
    assert spec.signals == ("T50", "P15")
    assert excluded["T24"] == "not chosen (--signals)"
    with pytest.raises(RecipeError, match="signal 'T2' is constant"):
        rul.fit_spec(data, ["T2"])
    with pytest.raises(RecipeError, match=r"signal\(s\) \['setting1'\] cannot be inputs"):
        rul.fit_spec(data, ["setting1"])


def test_the_cli_default_cap_is_the_recipe_s() -> None:
    assert RUL_CAP == rul.CAP == 125.0


def test_chunked_boosting_grows_the_trees_of_one_fit() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] * 3 + np.sin(X[:, 1]) + rng.normal(0, 0.1, 400)
    ours = RulRegressor(random_state=0).fit(X, y)
    # One thread, as the recipe: OpenMP's default two crawl on a busy 2-core machine
    # (this fit took 54 s instead of 0.5 s).
    with threadpool_limits(limits=1, user_api="openmp"):
        reference = HistGradientBoostingRegressor(**HGB_PARAMS, random_state=0).fit(X, y)
        expected = reference.predict(X)
    assert ours.model_.n_iter_ == reference.n_iter_ == 800
    np.testing.assert_array_equal(ours.predict(X), expected)


def test_exported_model_reproduces_scikit_learn_on_held_runs(
    fitted: rul.RulFit, cmapss: Path, tmp_path: Path
) -> None:
    subset = load_cmapss(cmapss)["FD001"]
    assert subset.test is not None
    held = rul.run_features(rul.cmapss_runs(subset.test, "held"), fitted.spec)
    path = tmp_path / "engine.onnx"
    manifest = fitted.manifest("engine", TrainingData("ab" * 32, "synthetic"))
    export_onnx(fitted.regressor, fitted.spec.n_features, manifest, path, dtype="float64")
    assert verify(fitted.regressor, path, held, atol=1e-4) <= 1e-4
    model = Model.load(path)
    model.smoke_test()
    assert model.input_dtype is np.float64
    assert model.manifest == manifest
    np.testing.assert_allclose(model.score(held), fitted.regressor.predict(held), atol=1e-4)
    graph = to_onnx(fitted.regressor, fitted.spec.n_features, "float64").graph
    assert [n.op_type for n in graph.node] == ["TreeEnsembleRegressor", "Reshape"]
    # The gateway's path to the last row of a held run gives the same score.
    values = rul.cmapss_runs(subset.test, "held").column_values(fitted.spec.inputs)
    last = history_features(values[: np.flatnonzero(subset.test.units == 1)[-1] + 1], fitted.spec)
    first_run = rul_series_features(values[subset.test.units == 1], fitted.spec)
    np.testing.assert_allclose(last, first_run[-1], rtol=1e-12, atol=1e-12)
    assert model.score(last[None])[0] == pytest.approx(
        fitted.regressor.predict(last[None])[0], abs=1e-4
    )


def test_fit_records_everything_in_the_manifest(fitted: rul.RulFit) -> None:
    manifest = fitted.manifest("engine", TrainingData("ab" * 32, "synthetic"), {"x": 1.0})
    assert (manifest.kind, manifest.output_unit, manifest.score_range) == (
        "rul",
        "cycles",
        (0, 125),
    )
    assert manifest.inputs == WEARING
    assert (manifest.window.length, manifest.window.step) == (100, 1)
    assert manifest.n_features == 4 * 7 + 1
    assert manifest.rul_features == fitted.spec
    params = manifest.recipe.params
    assert params["model_params"] == HGB_PARAMS
    assert params["cap"] == 125.0
    assert params["training_runs"] == 12
    assert params["training_rows"] == fitted.rows
    assert params["excluded"]["T2"] == "1 distinct value(s), needs 3"


def test_targets_are_capped_and_never_negative(fitted: rul.RulFit) -> None:
    remaining = np.array([200.0, 125.0, 3.0, -0.5, np.nan])
    data = rul.RunData(
        source="x",
        columns=WEARING,
        values=np.ones((5, 4)) + np.arange(5)[:, None],
        runs=np.zeros(5, dtype=np.int64),
        remaining=remaining,
        unit="cycles",
    )
    features, target = rul.training_set(data, fitted.spec, cap=125.0)
    np.testing.assert_array_equal(target, [125.0, 125.0, 3.0, 0.0])  # unknown target dropped
    assert features.shape == (4, fitted.spec.n_features)


def test_csv_runs_from_a_run_column_with_the_remaining_time(tmp_path: Path) -> None:
    path = write_run_csv(tmp_path / "pump.csv", [30, 40])
    dataset = load_recordings(path)
    data = rul.recording_runs(dataset.recordings, dataset.root)
    assert data.columns == ("vibration", "temperature", "remaining_life_h", "run")
    assert data.candidates == ("vibration", "temperature")
    assert data.left_out == {
        "remaining_life_h": "ground truth of the remaining life",
        "run": "identifies the run",
    }
    assert [(s.start, s.stop) for s in data.by_run()] == [(0, 30), (30, 70)]
    assert data.unit == "h"
    assert data.sample_period_s == 60.0
    assert data.source == str(path)
    # Time to the last row of the run, in hours: 29 minutes at the first row.
    assert data.remaining[0] == pytest.approx(29 / 60)
    assert data.remaining[29] == 0.0
    np.testing.assert_allclose(
        data.remaining, data.column_values(["remaining_life_h"])[:, 0], atol=1e-4
    )
    in_rows = rul.recording_runs(dataset.recordings, dataset.root, unit="cycles")
    assert in_rows.remaining[30] == 39.0
    by_column = rul.recording_runs(
        dataset.recordings, dataset.root, target_column="remaining_life_h"
    )
    assert by_column.left_out is not None
    assert by_column.left_out["remaining_life_h"] == "the target"


def test_csv_files_without_a_run_column_are_one_run_each(tmp_path: Path) -> None:
    for name, length in (("a.csv", 20), ("b.csv", 25)):
        lines = ["time,x"] + [f"2026-01-01T00:{i:02d}:00,{i * 0.5}" for i in range(length)]
        (tmp_path / "runs" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "runs" / name).write_text("\n".join(lines) + "\n")
    dataset = load_recordings(tmp_path / "runs")
    data = rul.recording_runs(dataset.recordings, dataset.root, unit="min")
    assert data.n_runs == 2
    assert data.remaining[0] == 19.0
    assert data.remaining[20] == 24.0
    assert data.source == f"{tmp_path / 'runs'}: 2 recordings"


@pytest.mark.parametrize(
    ("edit", "kwargs", "message"),
    [
        (
            lambda t: t.replace(",0\n", ",1\n", 1),
            {},
            r"pump.csv: run 1 again at data row 6 after other runs",
        ),
        (lambda t: t.replace(",0\n", ",\n", 1), {}, r"pump.csv: data row 1 has no 'run'"),
        (lambda t: t, {"target_column": "life"}, r"no target column 'life'"),
        (lambda t: t, {"unit": "weeks"}, r"unit 'weeks': one of cycles, s, min, h, d"),
    ],
)
def test_bad_csv_runs_are_refused(
    tmp_path: Path, edit: Any, kwargs: dict[str, Any], message: str
) -> None:
    path = write_run_csv(tmp_path / "pump.csv", [5, 5])
    path.write_text(edit(path.read_text()))
    dataset = load_recordings(path)
    with pytest.raises((DatasetError, RecipeError), match=message):
        rul.recording_runs(dataset.recordings, dataset.root, **kwargs)


def test_train_rul_on_a_cmapss_folder(cmapss: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = cmapss.parent / "models_onnx" / "engine.onnx"
    code, stdout, _ = uvelka(capsys, "train", "rul", "--data", cmapss, "--out", out)
    assert code == 0
    model = Model.load(out)
    model.smoke_test()
    m = model.manifest
    assert (m.name, m.kind, m.inputs, m.output_unit) == ("engine", "rul", WEARING, "cycles")
    assert set(m.metrics) == {"test_rmse", "test_phm08", "test_units"}
    assert m.metrics["test_units"] == 5
    assert m.data.source == f"{cmapss}: C-MAPSS FD001 training runs"
    assert f"data: {cmapss}: C-MAPSS FD001 training runs (12 runs," in stdout
    assert "left out: P15 (2 distinct value(s), needs 3)\n" in stdout
    assert "inputs: T24, T30, T50, Ps30\n" in stdout
    assert "operating conditions: 1\n" in stdout
    rmse = m.metrics["test_rmse"]
    assert f"test FD001 (5 units, one prediction at the last cycle): RMSE {rmse:.3f}," in stdout
    assert f"model: {out} (engine; max |ONNX - scikit-learn|" in stdout
    assert "held-out test rows" in stdout
    assert f"training data fingerprint: {m.data.sha256}" in stdout


def test_train_rul_on_a_recording_with_a_target_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_run_csv(tmp_path / "pump.csv", [120, 150, 130])
    out = tmp_path / "pump-rul.onnx"
    code, stdout, _ = uvelka(
        capsys,
        "train", "rul", "--data", data, "--out", out,
        "--target-column", "remaining_life_h", "--cap", "2", "--name", "pump",
    )  # fmt: skip
    assert code == 0
    model = Model.load(out)
    model.smoke_test()
    m = model.manifest
    assert (m.name, m.inputs, m.output_unit, m.score_range) == (
        "pump",
        ("vibration", "temperature"),
        "h",
        (0.0, 2.0),
    )
    assert m.rul_features is not None
    assert m.rul_features.sample_period_s == 60.0
    assert "sampling period: 60 s (the gateway must sample the inputs at this period)" in stdout
    assert "left out: remaining_life_h (the target)" in stdout
    assert "target: min(remaining life, 2 h); 400 training rows" in stdout
    assert "training rows)" in stdout
    json.loads(m.to_json())  # the sampling period and the spec travel as JSON


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unit", "h"], "C-MAPSS counts cycles; --unit 'h' does not apply"),
        (["--target-column", "x"], "--target-column is for CSV"),
        (["--subset", "FD004"], r"no subset 'FD004' \(found FD001\)"),
        (["--signals", "T24,nope"], r"signal\(s\) \['nope'\] cannot be inputs"),
    ],
)
def test_train_rul_refuses_what_the_data_cannot_give(
    cmapss: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = cmapss.parent / "refused.onnx"
    code, _, stderr = uvelka(capsys, "train", "rul", "--data", cmapss, "--out", out, *args)
    assert code == 2
    assert stderr.startswith("uvelka train rul: ")
    assert re.search(message, stderr)
    assert not out.exists()


def test_train_rul_names_the_line_of_a_corrupt_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_cmapss(tmp_path / "broken", test_units=0)
    train = folder / "train_FD001.txt"
    lines = train.read_text().splitlines()
    lines[4] = " ".join(lines[4].split()[:24])  # a line cut short
    train.write_text("\n".join(lines) + "\n")
    code, _, stderr = uvelka(capsys, "train", "rul", "--data", folder, "--out", tmp_path / "x.onnx")
    assert code == 2
    assert f"{train}:5: 24 numbers, expected 26" in stderr
    csv = write_run_csv(tmp_path / "interleaved.csv", [3, 3])
    csv.write_text(csv.read_text().replace(",0\n", ",1\n", 1))
    code, _, stderr = uvelka(capsys, "train", "rul", "--data", csv, "--out", tmp_path / "y.onnx")
    assert code == 2
    assert "interleaved.csv: run 1 again at data row 4 after other runs" in stderr


def test_a_rul_model_whose_spec_is_broken_does_not_load(fitted: rul.RulFit, tmp_path: Path) -> None:
    path = tmp_path / "engine.onnx"
    manifest = fitted.manifest("engine", TrainingData("ab" * 32, "synthetic"))
    export_onnx(fitted.regressor, fitted.spec.n_features, manifest, path, dtype="float64")
    model = onnx.load(path)
    raw = json.loads(model.metadata_props[0].value)
    raw["rul_features"]["std"][0][0] = 0.0
    model.metadata_props[0].value = json.dumps(raw)
    onnx.save(model, path)
    with pytest.raises(
        ModelError, match=r"engine.onnx: invalid manifest: rul_features: std must be > 0"
    ):
        Model.load(path)
