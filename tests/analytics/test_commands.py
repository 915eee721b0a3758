"""`uvelka train anomaly` and `uvelka evaluate anomaly` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from gateway.__main__ import main
from tests.analytics.test_evaluation import (
    RAMP_ALLOWANCE,
    normal_rows,
    synthetic_skab,
    write_recording,
)

REPO = Path(__file__).resolve().parents[2]


def uvelka(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def skab(tmp_path: Path) -> Path:
    return synthetic_skab(tmp_path / "skab")


def test_the_cli_loads_no_training_library_until_a_command_needs_it() -> None:
    probe = (
        "import sys, gateway.__main__;"
        "print([m for m in ('sklearn', 'skl2onnx', 'onnx', 'tqdm', 'analytics.training',"
        " 'analytics.evaluation') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_train_writes_a_model_that_loads_and_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plain comma-separated CSV, as the gateway's history export writes.
    data = write_recording(tmp_path / "pump.csv", normal_rows(500), None, sep=",")
    reference = write_recording(tmp_path / "normal" / "a.csv", normal_rows(1300), None)
    out = tmp_path / "models_onnx" / "pump-anomaly.onnx"
    code, stdout, _ = uvelka(
        capsys, "train", "anomaly", "--data", data, "--reference", reference.parent, "--out", out
    )
    assert code == 0
    model = Model.load(out)
    model.smoke_test()
    m = model.manifest
    assert (m.name, m.kind, m.inputs, m.threshold, m.hold) == (
        "pump-anomaly",
        "anomaly",
        ("square",),
        3.0,
        20,
    )
    assert m.recipe.params["allowance"]["ramp"] == pytest.approx(RAMP_ALLOWANCE)
    assert "ramp" in m.recipe.params["excluded"]
    assert m.data.source.endswith(
        f"rows 1-400 (commissioning); reference normal data {reference.parent}: 1300 rows"
    )
    assert m.metrics == {}
    assert f"model: {out} (pump-anomaly; max |ONNX - numpy|" in stdout
    assert "inputs: square\n" in stdout
    assert "threshold 3, hold 20 windows" in stdout
    assert f"training data fingerprint: {m.data.sha256}" in stdout
    assert "left out: ramp (drift allowance 4.74 > 3: slow drift dominates it)" in stdout


def test_train_on_a_labelled_skab_file_reports_its_test_rows(
    skab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = skab.parent / "valve-1.onnx"
    code, stdout, _ = uvelka(
        capsys,
        "train",
        "anomaly",
        "--data",
        skab / "valve" / "1.csv",
        "--reference",
        skab / "anomaly-free",
        "--out",
        out,
    )
    assert code == 0
    # The same rows as the evaluation of valve/1: TP 100, FP 34, FN 0, TN 166.
    assert "labelled rows after commissioning: F1 0.8547, FAR 17.00 %, MAR 0.00 %" in stdout
    metrics = Model.load(out).manifest.metrics
    assert metrics == pytest.approx(
        {"test_f1": 100 / (100 + 34 / 2), "test_far": 34 / 200, "test_mar": 0.0}
    )


def test_train_without_reference_and_with_chosen_signals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = np.zeros(450, dtype=bool)
    labels[10] = True  # inside the commissioning rows
    data = write_recording(tmp_path / "a.csv", normal_rows(450), labels)
    out = tmp_path / "a.onnx"
    code, stdout, _ = uvelka(
        capsys, "train", "anomaly", "--data", data, "--out", out, "--signals", "square,ramp"
    )
    assert code == 0
    assert "drift allowance: 1 for every signal: no reference normal data" in stdout
    assert "warning: 1 commissioning rows are labelled anomalous" in stdout
    manifest = Model.load(out).manifest
    assert manifest.inputs == ("square", "ramp")
    assert manifest.recipe.params["allowance"] == {"ramp": 1.0, "square": 1.0}
    assert manifest.recipe.params["allowance_source"].startswith("1 for every signal")

    code, _, stderr = uvelka(
        capsys, "train", "anomaly", "--data", data, "--out", out, "--signals", "square,rpm"
    )
    assert code == 2
    assert "uvelka train anomaly: unknown signal(s) ['rpm']" in stderr


def test_train_with_labels(skab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = skab.parent / "labelled.onnx"
    code, stdout, _ = uvelka(capsys, "train", "anomaly", "--labels", "--data", skab, "--out", out)
    assert code == 0
    assert "2 labelled recordings, 1472 windows" in stdout
    assert "1 unlabelled recordings not used" in stdout
    assert "validation: 2 folds by recording, threshold" in stdout
    model = Model.load(out)
    model.smoke_test()
    m = model.manifest
    assert m.recipe.name == "gradient-boosting-on-labelled-windows"
    assert m.inputs == ("ramp", "square")
    assert m.hold == 0
    assert {"cv_f1", "cv_far", "cv_mar"} <= m.metrics.keys()


def test_a_corrupt_file_is_an_error_that_names_it(
    skab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = skab / "valve" / "1.csv"
    lines = bad.read_text().splitlines()
    cells = lines[5].split(";")
    cells[2] = "abc"  # the "square" column of line 6
    lines[5] = ";".join(cells)
    bad.write_text("\n".join(lines) + "\n")
    expected = f"{bad}:6: column 'square': 'abc' is not a number"
    code, _, stderr = uvelka(capsys, "train", "anomaly", "--data", bad, "--out", skab / "x.onnx")
    assert code == 2
    assert expected in stderr, stderr
    code, _, stderr = uvelka(capsys, "evaluate", "anomaly", "--data", skab)
    assert code == 2
    assert expected in stderr, stderr
    assert not (skab / "x.onnx").exists()

    model = skab.parent / "broken.onnx"
    model.write_bytes(b"not a model")
    code, _, stderr = uvelka(
        capsys, "evaluate", "anomaly", "--data", skab / "other", "--model", model
    )
    assert code == 2
    assert f"uvelka evaluate anomaly: {model}: not a loadable ONNX model" in stderr


def test_evaluate_prints_the_protocol_and_the_pooled_result(
    skab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = uvelka(capsys, "evaluate", "anomaly", "--data", skab)
    assert code == 0
    assert "using anomaly-free data as extra normal data: anomaly-free/free.csv" in stdout
    assert "inputs: square\n" in stdout
    assert "valve/1.csv   300   100   100    34     0   166 0.8547   17.0    0.0" in stdout
    assert (
        "POOLED over 700 test rows: F1 0.7143, FAR 11.93 %, MAR 15.38 %"
        " (TP 110, FP 68, FN 20, TN 502)"
    ) in stdout

    code, stdout, _ = uvelka(capsys, "evaluate", "anomaly", "--data", skab, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert {k: result["overall"][k] for k in ("tp", "fp", "fn", "tn", "test_rows")} == {
        "tp": 110,
        "fp": 68,
        "fn": 20,
        "tn": 502,
        "test_rows": 700,
    }
    assert [f["name"] for f in result["files"]] == ["other/2.csv", "valve/1.csv"]


def test_evaluate_a_trained_model_as_a_fleet_model(
    skab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = skab.parent / "valve-1.onnx"
    reference = skab / "anomaly-free"
    argv = ["--data", skab / "valve" / "1.csv", "--reference", reference, "--out", out]
    assert uvelka(capsys, "train", "anomaly", *argv)[0] == 0
    code, stdout, _ = uvelka(
        capsys, "evaluate", "anomaly", "--data", skab, "--model", out, "--json"
    )
    assert code == 0
    result = json.loads(stdout)
    assert result["method"].startswith(f"model {out} (valve-1/")
    valve = {f["name"]: f for f in result["files"]}["valve/1.csv"]
    assert (valve["tp"], valve["fp"], valve["fn"], valve["tn"]) == (100, 34, 0, 166)

    code, _, stderr = uvelka(
        capsys, "evaluate", "anomaly", "--data", skab, "--model", out, "--signals", "square"
    )
    assert code == 2
    assert "a --model has its own" in stderr


def test_evaluate_refuses_a_cmapss_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train_FD001.txt").write_text("1 1" + " 0" * 24 + "\n")
    code, _, stderr = uvelka(capsys, "evaluate", "anomaly", "--data", tmp_path)
    assert code == 2
    assert f"{tmp_path}: not a folder of CSV recordings" in stderr


def test_usage_errors_say_what_to_do(skab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = skab.parent / "x.onnx"
    code, _, stderr = uvelka(capsys, "train", "anomaly", "--data", skab, "--out", out)
    assert code == 2
    assert f"{skab}: 3 recordings; an anomaly envelope is fitted per asset" in stderr
    code, _, stderr = uvelka(
        capsys, "train", "anomaly", "--labels", "--data", skab, "--reference", skab, "--out", out
    )
    assert code == 2
    assert "--reference is for the envelope recipe" in stderr
    short = skab / "valve" / "1.csv"
    code, _, stderr = uvelka(
        capsys, "train", "anomaly", "--data", short, "--out", out, "--commissioning-rows", 701
    )
    assert code == 2
    assert f"{short}: 700 rows, fewer than the 701 commissioning rows" in stderr
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "anomaly", "--data", str(skab), "--commissioning-rows", "0"])
    assert exited.value.code == 2
    assert "must be a whole number of rows >= 1, got '0'" in capsys.readouterr().err
    assert not out.exists()


def test_without_the_training_extra_the_commands_say_what_to_install(skab: Path) -> None:
    # None in sys.modules makes `import sklearn` fail as if it were not installed.
    probe = (
        "import sys; sys.modules['sklearn'] = None;"
        "from gateway.__main__ import main;"
        f"sys.exit(main(['evaluate', 'anomaly', '--data', {str(skab)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert "uvelka evaluate anomaly needs the training extra" in done.stderr
    assert "pip install 'uvelka-gateway[train]'" in done.stderr
