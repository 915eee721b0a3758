"""`uvelka train anomaly|rul --history` (issue #12): a model trained on an asset's own
history, recorded by the test through the real History store; the rows the training set
leaves out (not Good, labelled anomaly, left out by hand), the time-ordered validation,
the manifest, and the one-line refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from gateway.__main__ import main as uvelka
from gateway.core.quality import Quality
from gateway.store import History, Point
from gateway.store.history_export import FILE_NAME
from tests.fixtures.assets import CENTRE, normal_recording, train

# Within the default retention (7 d) of now: the whole history is found from it.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SECONDS = 1500
FAULT = (1300, 1360)  # seconds after T0: flow far off its envelope
OUTAGE = (200, 260)  # seconds after T0: the link failed (Bad) then recovered


def record_history(data_dir: Path, seconds: int = SECONDS) -> None:
    """A pump's inputs at 1 Hz as a gateway records them: noise around CENTRE, an outage
    (Bad quality, values far off that must not be learnt) and a fault (flow doubled)."""
    rng = np.random.default_rng(3)
    points = []
    for n in range(seconds):
        at = T0 + timedelta(seconds=n)
        bad = OUTAGE[0] <= n < OUTAGE[1]
        for name, centre in CENTRE.items():
            value = centre * (1 + 0.01 * rng.standard_normal())
            if name == "flow" and FAULT[0] <= n < FAULT[1]:
                value *= 2
            if bad:
                value *= 10  # a last usable value gone stale: never Good, never learnt
            quality = Quality.LAST_USABLE if bad else Quality.GOOD
            points.append(Point(f"pump1.{name}", at, value, quality))

    async def write() -> None:
        async with History.open(data_dir / FILE_NAME, retention_s=1e9) as history:
            history.record(points)

    asyncio.run(write())


def config_file(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    signals = tuple(CENTRE)
    train(normal_recording(tmp_path / "normal.csv", signals), models / "pump.onnx", signals)
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[gateway]
name = "plant"
data_dir = "{tmp_path / "data"}"
[analytics]
models_dir = "{models}"
[[devices]]
name = "pump1"
url = "modbus-tcp://127.0.0.1:1502"
tags = [
  {{ name = "flow", table = "holding", address = 0, type = "float32" }},
  {{ name = "pressure", table = "holding", address = 2, type = "float32" }},
  {{ name = "temperature", table = "holding", address = 4, type = "float32" }},
]
[[assets]]
name = "pump1"
anomaly = "pump.onnx"
interval = 1.0
inputs = {{ flow = "pump1.flow", pressure = "pump1.pressure", temperature = "pump1.temperature" }}
""",
        encoding="utf-8",
    )
    return path


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def train_history(tmp_path: Path, *extra: str, kind: str = "anomaly") -> int:
    return uvelka(
        [
            "train",
            kind,
            "--history",
            str(tmp_path / "data"),
            "--asset",
            "pump1",
            "--config",
            str(tmp_path / "gateway.toml"),
            "--out",
            str(tmp_path / "candidate.onnx"),
            *extra,
        ]
    )


@pytest.fixture
def plant(tmp_path: Path) -> Path:
    config_file(tmp_path)
    record_history(tmp_path / "data")
    return tmp_path


def test_an_envelope_from_the_assets_own_history_leaves_out_what_was_not_good(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fault is left out by its label; the outage by its quality.
    code = train_history(
        plant,
        "--from",
        at(0),
        "--to",
        at(SECONDS),
        "--anomaly-range",
        f"{at(FAULT[0])}/{at(FAULT[1])}",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "model:" in out
    assert "held-back false alarms" in out
    model = Model.load(plant / "candidate.onnx")
    manifest = model.manifest
    history = manifest.recipe.params["history"]
    assert history["asset"] == "pump1"
    assert history["rows"] == SECONDS
    assert history["good_rows"] == SECONDS - (OUTAGE[1] - OUTAGE[0])
    assert history["anomalous"] == [f"{at(FAULT[0])}/{at(FAULT[1])}"]
    # The held-back normal part is the newest fifth, in time order.
    assert history["held_back_from"].startswith(at(1200)[:19])
    assert manifest.metrics["held_back_far"] < 0.05
    # The fault was never learnt: the model flags it (recall), and little else (precision).
    assert manifest.metrics["recall"] > 0.9
    # Windows ending in the 14 rows after the fault still hold fault rows: flagged, but
    # their last row is not labelled (60 labelled windows, 74 flagged).
    assert manifest.metrics["precision"] == pytest.approx(60 / 74)
    # The outage's values (ten times the centre) were never learnt either.
    centre = manifest.recipe.params["centre"]
    assert centre["flow"] == pytest.approx(CENTRE["flow"], rel=0.02)
    spread = manifest.recipe.params["spread"]
    assert spread["flow"] < 0.1 * CENTRE["flow"]
    assert manifest.data.sha256 in out


def test_without_the_label_the_fault_counts_as_false_alarms_of_the_held_back_part(
    plant: Path,
) -> None:
    assert train_history(plant) == 0  # the whole history: --from/--to found from it
    manifest = Model.load(plant / "candidate.onnx").manifest
    assert manifest.recipe.params["history"]["rows"] == SECONDS
    assert "recall" not in manifest.metrics  # no labels: no truth to recall
    # 74 of the ~300 held-back windows hold fault rows, unlabelled: taken as normal.
    assert manifest.metrics["held_back_far"] == pytest.approx(74 / 286, abs=0.02)


def test_the_supervised_recipe_learns_from_the_labelled_ranges(plant: Path) -> None:
    code = train_history(
        plant,
        "--labels",
        "--anomaly-range",
        f"{at(FAULT[0])}/{at(FAULT[1])}",
        "--anomaly-range",
        f"{at(400)}/{at(430)}",
    )
    assert code == 0
    manifest = Model.load(plant / "candidate.onnx").manifest
    assert manifest.recipe.name == "gradient-boosting-on-labelled-windows"
    assert "recall" in manifest.metrics
    assert "held_back_far" in manifest.metrics


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", at(0), "--to", at(300)], "too little Good data"),
        (["--from", at(0), "--to", at(SECONDS), "--labels"], "none lies in the range"),
        (["--from", "yesterday"], "not ISO 8601"),
        (["--leave-out", at(5)], "expected FROM/TO"),
    ],
)
def test_bad_requests_are_one_line_and_store_nothing(
    plant: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert train_history(plant, *extra) == 2
    *stages, err = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("uvelka train anomaly: ")
    assert message in err
    assert all(": " in stage and stage.endswith("%") for stage in stages)
    assert not (plant / "candidate.onnx").exists()


def test_an_asset_whose_inputs_were_never_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file(tmp_path)
    asyncio.run(_other_history(tmp_path / "data"))
    assert train_history(tmp_path) == 2
    err = capsys.readouterr().err
    assert "asset 'pump1' has no recorded inputs" in err
    assert "no history of it" in err


async def _other_history(data_dir: Path) -> None:
    async with History.open(data_dir / FILE_NAME, retention_s=1e9) as history:
        history.record([Point("boiler.temperature", T0, 80.0, Quality.GOOD)])


def test_rul_needs_a_run_to_failure_between_replacements(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_history(plant, kind="rul") == 2
    err = capsys.readouterr().err
    assert "no run to failure" in err
    assert "resets_life" in err


def test_train_without_data_or_history_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert uvelka(["train", "anomaly", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "--data FILE, or --history DATA_DIR --asset NAME" in capsys.readouterr().err
