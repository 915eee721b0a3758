"""The univariate recipe under NAB's protocol, and its ONNX file against its Python twin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.evaluation.nab_score import load_windows, scaled_sigmoid
from analytics.evaluation.univariate import evaluate_nab
from analytics.features import extract
from analytics.inference import Model
from analytics.training import univariate
from analytics.training.datasets import load_recordings
from tests.analytics.test_commands import uvelka

ROWS = 6000  # hourly: the probation (15 %, 900 rows) holds a full 720-row window
SHIFT, SPIKE = 2500, 4500  # a level shift and a spike, each inside its window
WINDOWS = [(2350, 2650), (4350, 4650)]


def synthetic_series(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Noise with a daily cycle, +8 for two days from SHIFT, +12 at SPIKE; its windows."""
    rng = np.random.default_rng(7)
    hours = np.arange(ROWS)
    values = 20 + np.sin(2 * np.pi * hours / 24) + rng.normal(0, 1, ROWS)
    values[SHIFT : SHIFT + 48] += 8
    values[SPIKE] += 12
    times = np.datetime64("2024-01-01T00:00:00") + hours.astype("m8[h]")
    data = tmp_path / "series.csv"
    lines = [f"{str(t).replace('T', ' ')},{v:.6f}" for t, v in zip(times, values, strict=True)]
    data.write_text("timestamp,value\n" + "\n".join(lines) + "\n")
    windows = tmp_path / "windows.json"
    pairs = [[str(times[lo]).replace("T", " "), str(times[hi])] for lo, hi in WINDOWS]
    windows.write_text(json.dumps(pairs))
    return data, windows, values


def test_both_windows_detected_without_false_alarms_and_nab_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, windows, _ = synthetic_series(tmp_path)
    code, out, _ = uvelka(
        capsys, "evaluate", "anomaly", "--data", data, "--windows", windows, "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert (result["windows"], result["windows_detected"], result["false_alarms"]) == (2, 2, 0)
    assert result["probationary_rows"] == 900
    # Each window is detected where its anomaly starts, 150 rows into its 301: position
    # -(301 - 150) / 301 for both, reward (2 / (1 + e^(5 * -151/301)) - 1) / 0.98661.
    assert result["first_detections"] == [SHIFT, SPIKE]
    reward = (2 / (1 + np.exp(5 * -151 / 301)) - 1) / (2 / (1 + np.exp(-5)) - 1)
    assert result["nab_score"] == pytest.approx(100 * (2 * reward + 2) / 4, abs=1e-9)
    code, out, _ = uvelka(capsys, "evaluate", "anomaly", "--data", data, "--windows", windows)
    assert code == 0
    assert "windows detected 2 of 2, false alarms 0" in out


def test_a_detector_that_flags_noise_is_charged_false_alarms(tmp_path: Path) -> None:
    """The score is streaming: the spike's own window cannot see it coming, and a noise
    burst outside the windows is counted as a false alarm."""
    data, windows, values = synthetic_series(tmp_path)
    values[3500] -= 15  # outside both windows
    lines = data.read_text().splitlines()
    lines[3501] = lines[3501].split(",")[0] + f",{values[3500]:.6f}"
    data.write_text("\n".join(lines) + "\n")
    recording = load_recordings(data).recordings[0]
    result = evaluate_nab(recording, load_windows(windows), data).result
    assert (result.windows_detected, result.false_alarms) == (2, 1)
    # The false alarm is 850 rows after a 301-row window: position 850 / 300, cost
    # 0.11 * scaled_sigmoid(850 / 300) (about -0.11).
    reward = (2 / (1 + np.exp(5 * -151 / 301)) - 1) / (2 / (1 + np.exp(-5)) - 1)
    raw = 2 * reward + 0.11 * scaled_sigmoid(850 / 300)
    assert result.raw == pytest.approx(raw, abs=1e-12)


def test_train_univariate_exports_a_model_that_matches_its_python_twin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _, values = synthetic_series(tmp_path)
    out = tmp_path / "temperature.onnx"
    code, stdout, stderr = uvelka(
        capsys, "train", "anomaly", "--univariate", "--data", data, "--out", out,
        "--commissioning-rows", 900,
    )  # fmt: skip
    assert code == 0, stderr
    assert "max |ONNX - numpy| 0.0e+00" in stdout
    model = Model.load(out)
    manifest = model.manifest
    assert manifest.inputs == ("value",)
    assert manifest.window.length == univariate.WINDOW.length
    assert (manifest.threshold, manifest.hold) == (univariate.THRESHOLD, univariate.HOLD)
    # The gateway's path: the newest window of the one input, extract, Model.score.
    ends = np.array([*range(719, ROWS, 97), SHIFT])
    windows = np.lib.stride_tricks.sliding_window_view(values, 720)[ends - 719, :, None]
    features = extract(windows, manifest.feature_kinds)
    fit = univariate.fit_univariate(values[:900], "value")
    np.testing.assert_allclose(model.score(features), fit.detector.predict(features), atol=1e-12)
    assert model.score(features).max() > univariate.THRESHOLD  # a window ending in the shift
    model.smoke_test()


def test_univariate_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, windows, _ = synthetic_series(tmp_path)
    out = tmp_path / "m.onnx"
    code, _, stderr = uvelka(
        capsys, "train", "anomaly", "--univariate", "--data", data, "--out", out
    )
    assert code == 2
    assert "window needs 720" in stderr
    code, _, stderr = uvelka(
        capsys, "evaluate", "anomaly", "--data", data, "--windows", windows, "--protocol", "nested"
    )
    assert code == 2
    assert "univariate recipe alone" in stderr
    windows.write_text('[["2030-01-01 00:00", "2030-01-02 00:00"]]')
    code, _, stderr = uvelka(capsys, "evaluate", "anomaly", "--data", data, "--windows", windows)
    assert code == 2
    assert "holds no row" in stderr
