"""The anomaly recipes: envelope fit by hand, its ONNX graph, selection rule, labelled variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from analytics.features import WindowSpec
from analytics.inference import Model
from analytics.manifest import TrainingData, fingerprint
from analytics.training.anomaly import (
    DRIFT_LIMIT,
    HOLD,
    LABELLED_KINDS,
    THRESHOLD,
    THRESHOLD_GRID,
    DriftAllowance,
    EnvelopeScore,
    RecipeError,
    class_blocks,
    fit_envelope,
    fit_labelled,
    labelled_windows,
    select_inputs,
    window_means,
)
from analytics.training.datasets import Recording
from analytics.training.export import ExportError, export_onnx, to_onnx, verify

DATA = TrainingData("ab" * 32, "synthetic")


def no_reference(*signals: str) -> DriftAllowance:
    return DriftAllowance(signals, None, 0, 0)


def alternating(n: int) -> np.ndarray:
    """+1 on odd rows, -1 on even: a 15-sample window mean is +1/15 when it ends on an odd
    row (8 odd rows in it), -1/15 on an even one."""
    return np.where(np.arange(n) % 2 == 1, 1.0, -1.0)


def test_score_crosses_the_threshold_exactly_when_expected() -> None:
    n, start, shift = 600, 500, 0.7
    values = alternating(n)
    values[start:] += shift
    fit = fit_envelope(values[:400, None], no_reference("x"))
    # Commissioning window means: 193 of +1/15 and 193 of -1/15: centre 0, spread 1/15.
    assert fit.detector.centre_ == pytest.approx([0.0], abs=1e-15)
    assert fit.detector.spread_ == pytest.approx([1 / 15], rel=1e-12)
    scores, ends = fit.window_scores(values[:, None])
    assert ends.tolist() == list(range(14, n))
    by_row = dict(zip(ends.tolist(), scores.tolist(), strict=True))
    # With k shifted rows in the window ending at row 499 + k, the score is
    # |±1 + 0.7 k| (sign + when the window ends on an odd row).
    for k in range(1, 16):
        sign = 1.0 if (start - 1 + k) % 2 == 1 else -1.0
        assert by_row[start - 1 + k] == pytest.approx(abs(sign + shift * k), rel=1e-9)
    assert max(by_row[row] for row in range(14, start)) == pytest.approx(1.0)
    over = [row for row in range(14, n) if by_row[row] > THRESHOLD]
    # k = 4 (row 503) is the first over 3; k = 5 dips to 2.5; from k = 6 on always over.
    assert over[:3] == [503, 505, 506]
    assert 504 not in over


def test_envelope_fit_ignores_incomplete_windows_and_floors_a_constant_spread() -> None:
    values = np.full((100, 2), 7.0)
    values[:, 1] = np.linspace(0, 1, 100)
    values[50, 1] = np.nan
    fit = fit_envelope(values, no_reference("flat", "ramp"))
    assert fit.detector.spread_[0] == pytest.approx(7e-6)  # 1e-6 * |centre|
    assert np.isfinite(fit.detector.scale_).all()
    scores, _ = fit.window_scores(values)
    assert np.isnan(scores[50 - 14 : 51]).all()
    assert np.isfinite(scores[:36]).all()
    with pytest.raises(RecipeError, match="no complete window"):
        fit_envelope(np.full((30, 1), np.nan), no_reference("x"))
    with pytest.raises(RecipeError, match="10 commissioning rows: the window needs 15"):
        fit_envelope(np.zeros((10, 1)), no_reference("x"))


def test_selection_rule_and_override() -> None:
    allowance = DriftAllowance(("a", "b", "c"), np.array([1.0, DRIFT_LIMIT + 0.01, 0.5]), 9, 9)
    inputs, excluded = select_inputs(allowance)
    assert inputs == ("a", "c")
    assert list(excluded) == ["b"]
    assert excluded["b"].startswith("drift allowance 3.01 > 3")
    assert select_inputs(allowance, ["c", "b"]) == (
        ("c", "b"),
        {"a": "not chosen (--signals)"},
    )
    assert select_inputs(no_reference("a", "b")) == (("a", "b"), {})
    with pytest.raises(RecipeError, match=r"unknown signal\(s\) \['d'\]"):
        select_inputs(allowance, ["a", "d"])
    with pytest.raises(RecipeError, match="each signal once"):
        select_inputs(allowance, ["a", "a"])
    drifting = DriftAllowance(("a",), np.array([5.0]), 9, 9)
    with pytest.raises(RecipeError, match="every signal drifts beyond the limit"):
        select_inputs(drifting)


def test_onnx_graph_equals_the_numpy_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    commissioning = rng.normal(size=(400, 3)) * [1.0, 50.0, 0.01] + [0.0, 300.0, 2.0]
    allowance = DriftAllowance(("a", "b", "c"), np.array([1.4, 0.6, 2.0]), 9, 9)
    fit = fit_envelope(commissioning, allowance)
    graph = to_onnx(fit.detector, 3)
    assert [node.op_type for node in graph.graph.node] == [
        "Sub",
        "Div",
        "Abs",
        "ReduceMax",
        "Reshape",
    ]
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    path = tmp_path / "envelope.onnx"
    manifest = fit.manifest("pump-1", DATA, {"test_f1": 0.5})
    export_onnx(fit.detector, 3, manifest, path, dtype="float64")
    held = window_means(rng.normal(size=(500, 3)) * [3.0, 100.0, 0.05] + [0.0, 300.0, 2.0])
    assert verify(fit.detector, path, held, atol=1e-9) <= 1e-9
    model = Model.load(path)
    model.smoke_test()
    assert model.input_dtype is np.float64
    assert np.abs(model.score(held) - fit.detector.predict(held)).max() <= 1e-9
    m = model.manifest
    assert (m.kind, m.inputs, m.window, m.feature_kinds) == (
        "anomaly",
        ("a", "b", "c"),
        WindowSpec(15, 1),
        ("mean",),
    )
    assert (m.threshold, m.hold, m.score_range, m.metrics) == (
        THRESHOLD,
        HOLD,
        (0.0, 10.0),
        {"test_f1": 0.5},
    )
    params = m.recipe.params
    assert params["allowance"] == {"a": 1.4, "b": 0.6, "c": 2.0}
    assert params["centre"] == dict(zip("abc", fit.detector.centre_.tolist(), strict=True))
    with pytest.raises(ExportError, match="double only"):
        to_onnx(fit.detector, 3, dtype="float32")


def test_envelope_rejects_a_bad_allowance() -> None:
    with pytest.raises(RecipeError, match="one allowance > 0 per column"):
        EnvelopeScore(allowance=np.array([1.0, 0.0])).fit(np.zeros((5, 2)))
    with pytest.raises(RecipeError, match="one allowance > 0 per column"):
        EnvelopeScore(allowance=np.array([1.0])).fit(np.zeros((5, 2)))


def labelled_recording(name: str, seed: int, n: int = 300) -> Recording:
    """Noise with two bursts of larger, shifted noise on "vib"; the bursts are labelled."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 2)) * [0.1, 1.0] + [1.0, 20.0]
    labels = np.zeros(n, dtype=bool)
    for start in (80 + seed * 7, 200):
        values[start : start + 40, 0] += rng.normal(0.6, 0.3, size=40)
        labels[start : start + 40] = True
    timestamps = np.datetime64("2024-01-01T00:00:00", "us") + np.arange(n) * np.timedelta64(1, "s")
    return Recording(name, timestamps, values, ("vib", "temp"), labels, None)


def test_labelled_detector_learns_exports_and_reproduces(tmp_path: Path) -> None:
    recordings = [labelled_recording(f"r{i}.csv", i) for i in range(3)]
    fit = fit_labelled(recordings, seed=1)
    assert fit.inputs == ("vib", "temp")
    assert fit.folds == 3
    assert fit.threshold in THRESHOLD_GRID
    assert fit.validation.f1 is not None
    assert fit.validation.f1 > 0.8
    X, y, groups = labelled_windows(recordings, fit.inputs)
    assert X.shape == (3 * (300 - 14), 2 * len(LABELLED_KINDS))
    assert groups.tolist() == [0] * 286 + [1] * 286 + [2] * 286
    # A window's label is its last row's: recording 0's first burst starts at row 80.
    assert y[80 - 14 - 1 : 80 - 14 + 1].tolist() == [False, True]

    path = tmp_path / "labelled.onnx"
    manifest = fit.manifest("labelled", TrainingData(fingerprint(X), "three recordings"))
    export_onnx(fit.classifier, X.shape[1], manifest, path)
    held, _, _ = labelled_windows([labelled_recording("held.csv", 9)], fit.inputs)
    assert verify(fit.classifier, path, held) <= 1e-4
    loaded = Model.load(path).manifest
    assert (loaded.threshold, loaded.hold, loaded.feature_kinds) == (
        fit.threshold,
        0,
        LABELLED_KINDS,
    )
    assert loaded.metrics["cv_f1"] == pytest.approx(fit.validation.f1)
    assert loaded.recipe.params["folds"] == 3


def test_one_fault_in_one_recording_is_enough_to_learn_from() -> None:
    # Issue #12: an asset's history is one recording, and its one labelled fault lies in
    # one fifth of it; every fold still learns from both classes.
    rng = np.random.default_rng(5)
    n = 600
    values = rng.normal(size=(n, 2)) * [0.1, 1.0] + [1.0, 20.0]
    labels = np.zeros(n, dtype=bool)
    values[520:560, 0] += rng.normal(0.6, 0.3, size=40)
    labels[520:560] = True
    stamps = np.datetime64("2024-01-01T00:00:00", "us") + np.arange(n) * np.timedelta64(1, "s")
    history = Recording("history", stamps, values, ("vib", "temp"), labels, None)
    fit = fit_labelled([history], seed=1)
    assert fit.folds == 5
    assert fit.validation.f1 is not None
    assert fit.validation.f1 > 0.7  # each fold learns from 32 of the 40 anomalous windows
    _, y, _ = labelled_windows([history], fit.inputs)
    groups = class_blocks(y, 5)
    for fold in range(5):  # both classes in every fold: held out, and learnt from
        assert y[groups == fold].any()
        assert not y[groups == fold].all()
    for label in (False, True):  # each class in time order: fold 0's block, then 1's ...
        assert (np.diff(groups[y == label]) >= 0).all()
    # One anomalous window cannot be held out and learnt from at once.
    labels[:] = False
    labels[-1] = True
    with pytest.raises(RecipeError, match="1 anomalous windows are too few .* longer range"):
        fit_labelled([history], seed=1)


def test_labelled_detector_on_one_recording_and_bad_input() -> None:
    fit = fit_labelled([labelled_recording("only.csv", 0)], chosen=("vib",))
    assert (fit.inputs, fit.folds) == (("vib",), 5)
    quiet = labelled_recording("quiet.csv", 0)
    quiet.labels[:] = False  # type: ignore[index]
    with pytest.raises(RecipeError, match="both normal and anomalous windows"):
        fit_labelled([quiet])
    with pytest.raises(RecipeError, match="each once"):
        fit_labelled([quiet], chosen=("vib", "rpm"))
    one_class = [quiet, quiet, labelled_recording("burst.csv", 1)]
    with pytest.raises(RecipeError, match="a validation fold has only one class"):
        fit_labelled(one_class)
    unlabelled = Recording("u.csv", quiet.timestamps, quiet.values, quiet.signals, None, None)
    with pytest.raises(RecipeError, match="u.csv: no 'anomaly' column"):
        fit_labelled([unlabelled])
