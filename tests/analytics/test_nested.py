"""The nested protocol (issue #13): folds by file and folder, choices on training files only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.evaluation.anomaly import FileResult, evaluate_recipe, score_test_part
from analytics.evaluation.nested import (
    EnvelopeProcedure,
    FixedEnvelope,
    LabelledProcedure,
    folder_of,
    make_folds,
    run_nested,
)
from analytics.training.datasets import Recording, RecordingSet, load_recordings
from gateway.__main__ import main
from tests.analytics.test_evaluation import normal_rows, synthetic_skab, write_recording


def names_of(folders: dict[str, int]) -> list[str]:
    return [f"{folder}/{i}.csv" for folder, n in folders.items() for i in range(n)]


# ------------------------------------------------------------------------------- folds
def test_folds_split_by_file_stratified_by_folder() -> None:
    names = names_of({"valve1": 16, "other": 8, "valve2": 3})
    folds = make_folds(names, folds=4, repeats=3, seed=7)
    assert len(folds) == 12
    for fold in folds:
        assert not set(fold.train) & set(fold.test)
        assert sorted(fold.train + fold.test) == sorted(names)
    for repeat in range(3):
        tests = [f.test for f in folds if f.repeat == repeat]
        # Each file is held out exactly once per repeat.
        assert sorted(n for test in tests for n in test) == sorted(names)
        for folder, total in (("valve1", 16), ("other", 8)):
            assert [sum(folder_of(n) == folder for n in t) for t in tests] == [total // 4] * 4
        # A folder smaller than the folds: one file in three of them, none in the fourth.
        assert sorted(sum(folder_of(n) == "valve2" for n in t) for t in tests) == [0, 1, 1, 1]
        assert max(map(len, tests)) - min(map(len, tests)) <= 1
    # Repeats shuffle differently; the same seed gives the same folds.
    assert {f.test for f in folds if f.repeat == 0} != {f.test for f in folds if f.repeat == 1}
    assert make_folds(names, 4, 3, seed=7) == folds


def test_folds_refuse_what_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="folds >= 2"):
        make_folds(["a/1.csv", "a/2.csv"], folds=1, repeats=1)
    with pytest.raises(ValueError, match="cannot make 3 folds"):
        make_folds(["a/1.csv", "a/2.csv"], folds=3, repeats=1)


# ------------------------------------------------------------- choices on training files
def faulty_rows(n: int, start: int, length: int, jump: float) -> tuple[np.ndarray, np.ndarray]:
    values = normal_rows(n)
    values[start : start + length, 1] += jump
    labels = np.zeros(n, dtype=bool)
    labels[start : start + length] = True
    return values, labels


def small_skab(root: Path, per_folder: int = 4) -> Path:
    """Two folders of `per_folder` files each, a jump of the square wave in every one, and
    an anomaly-free file (the drift allowance's reference)."""
    for folder in ("valve", "other"):
        for i in range(per_folder):
            values, labels = faulty_rows(700, 450 + 20 * i, 100, 5.0 + i)
            write_recording(root / folder / f"{i}.csv", values, labels)
    write_recording(root / "anomaly-free" / "free.csv", normal_rows(1300), None)
    return root


@dataclass(eq=False)
class Cheater:
    """A procedure that would cheat: it sets its threshold from the labels of every row it
    is handed, test rows included if it ever got them. It records what it got."""

    name: str = "cheater"
    handed: list[tuple[str, ...]] = field(default_factory=list)
    scored: list[str] = field(default_factory=list)

    def choose(self, train: Sequence[Recording]) -> float:
        self.handed.append(tuple(r.name for r in train))
        anomalous = sum(int(r.labels.sum()) for r in train if r.labels is not None)
        return float(anomalous)

    def evaluate(self, choice: float, recording: Recording) -> FileResult:
        self.scored.append(recording.name)
        scores = np.zeros(len(recording.values))
        ends = np.arange(len(recording.values))
        return score_test_part(recording, scores, ends, 400, choice, 0, recording.signals)

    def describe(self, choice: float) -> dict[str, Any]:
        return {"threshold": choice}


def test_the_protocol_never_hands_test_files_to_the_choice(tmp_path: Path) -> None:
    dataset = load_recordings(small_skab(tmp_path / "skab"))
    folds = make_folds([r.name for r in dataset.labelled], folds=2, repeats=2)
    cheater = Cheater()
    result = run_nested(dataset, cheater, folds)
    assert cheater.handed == [f.train for f in folds]
    for fold, handed in zip(folds, cheater.handed, strict=True):
        assert not set(handed) & set(fold.test)
    assert cheater.scored == [n for f in folds for n in f.test]
    # The reference (unlabelled) is never a training or test file.
    assert all("anomaly-free/free.csv" not in h for h in cheater.handed)
    # Its choice is what the training labels alone give: 4 files x 100 anomalous rows.
    assert [f.choice for f in result.folds] == [{"threshold": 400.0}] * 4


def test_the_envelope_choice_depends_on_the_training_files_only(tmp_path: Path) -> None:
    dataset = load_recordings(small_skab(tmp_path / "skab"))
    (fold, *_) = make_folds([r.name for r in dataset.labelled], folds=2, repeats=1)
    by_name = {r.name: r for r in dataset.labelled}
    reference = [r.values for r in dataset.unlabelled]

    def fresh() -> EnvelopeProcedure:
        return EnvelopeProcedure(reference, dataset.signals)

    alone = fresh().choose([by_name[n] for n in fold.train])
    # With the test files' figures already cached, or their labels turned upside down,
    # the choice is the same.
    warmed = fresh()
    for name in fold.test:
        warmed.evaluate(alone, by_name[name])
    assert warmed.choose([by_name[n] for n in fold.train]) == alone
    flipped = [
        Recording(r.name, r.timestamps, r.values, r.signals, ~r.labels, r.changepoints)
        if r.name in fold.test and r.labels is not None
        else r
        for r in dataset.recordings
    ]
    upside_down = RecordingSet(dataset.root, dataset.signals, tuple(flipped))
    relabelled = {r.name: r for r in upside_down.labelled}
    assert fresh().choose([relabelled[n] for n in fold.train]) == alone
    assert alone.inputs == ("square",)  # the drifting ramp is left out


def test_the_default_constants_score_as_the_skab_protocol(tmp_path: Path) -> None:
    """FixedEnvelope is the default recipe: per file the same matrix as evaluate_recipe."""
    dataset = load_recordings(synthetic_skab(tmp_path / "skab"))
    names = [r.name for r in dataset.labelled]
    reference = [r.values for r in dataset.unlabelled]
    fixed = FixedEnvelope(EnvelopeProcedure(reference, dataset.signals))
    result = run_nested(dataset, fixed, make_folds(names, folds=2, repeats=1))
    nested = {f.name: f.confusion for fold in result.folds for f in fold.files}
    assert nested == {f.name: f.confusion for f in evaluate_recipe(dataset).files}
    assert result.pooled == evaluate_recipe(dataset).overall


def test_mean_worst_and_pooled_figures(tmp_path: Path) -> None:
    dataset = load_recordings(small_skab(tmp_path / "skab"))
    folds = make_folds([r.name for r in dataset.labelled], folds=2, repeats=2)
    envelope = EnvelopeProcedure([r.values for r in dataset.unlabelled], dataset.signals)
    result = run_nested(dataset, envelope, folds)
    confusions = [f.confusion for f in result.folds]
    assert result.pooled.rows == 2 * sum(len(r.values) - 400 for r in dataset.labelled)
    assert result.mean()["f1"] == pytest.approx(np.mean([c.f1 for c in confusions]))
    assert result.worst()["f1"] == min(c.f1 for c in confusions if c.f1 is not None)
    assert result.worst()["far"] == max(c.far for c in confusions if c.far is not None)
    raw = result.to_dict()
    assert [f["test"] for f in raw["folds"]] == [list(f.test) for f in folds]
    assert raw["pooled"]["tp"] == result.pooled.tp
    assert raw["extra_normal_data"] == ["anomaly-free/free.csv"]


def test_the_labelled_procedure_learns_from_training_files_only(tmp_path: Path) -> None:
    dataset = load_recordings(small_skab(tmp_path / "skab", per_folder=2))
    folds = make_folds([r.name for r in dataset.labelled], folds=2, repeats=1)
    result = run_nested(dataset, LabelledProcedure(), folds)
    # Jumps of 5-8 on a square wave of +-1: the classifier finds them on unseen files.
    assert result.pooled.f1 is not None
    assert result.pooled.f1 > 0.9
    assert all(0 < f.choice["threshold"] < 1 for f in result.folds)


# --------------------------------------------------------------------------- the command
def test_evaluate_nested_and_labels_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_skab(tmp_path / "skab", per_folder=2)
    args = ["evaluate", "anomaly", "--data", str(root), "--protocol", "nested"]
    assert main([*args, "--folds", "2", "--repeats", "1", "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert (raw["protocol"], raw["folds_per_repeat"], raw["repeats"]) == ("nested", 2, 1)
    assert len(raw["folds"]) == 2
    assert {"f1", "far", "mar"} <= set(raw["mean"])
    assert set(raw["worst"]) == set(raw["mean"])
    assert main([*args, "--folds", "2", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    for line in ("MEAN over 2 folds", "WORST fold", "POOLED over"):
        assert line in text
    labels = ["evaluate", "anomaly", "--data", str(root), "--labels", "--repeats", "1"]
    assert main(labels) == 0
    assert "labels help: pooled F1" in capsys.readouterr().out
    assert main([*args, "--signals", "square"]) == 2
    assert "--protocol skab" in capsys.readouterr().err
