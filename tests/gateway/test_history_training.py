"""`uvelka train anomaly|rul --history` (issue #12): a model trained on an asset's own
history, recorded by the test through the real History store; the rows the training set
leaves out (not Good, labelled anomaly on the command line or in the label store, alarms
judged confirmed, left out by hand), the time-ordered validation, the manifest, the one-line
refusals, and RUL from the runs between replacements with its prediction interval."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from gateway.__main__ import main as uvelka
from gateway.core.quality import Quality
from gateway.store import History, Point
from gateway.store.history_export import FILE_NAME
from gateway.store.labels import FILE_NAME as LABELS_FILE
from gateway.store.labels import Activation, LabelDraft, LabelStore, VerdictDraft
from gateway.store.maintenance_log import Draft, MaintenanceLog
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


def test_a_supervised_range_may_end_in_its_labelled_fault(
    plant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The newest fifth of the range is the fault: the envelope has no normal part held
    # back to judge it by; the supervised recipe holds nothing back (validated out of fold).
    labelled = [
        "--from",
        at(300),
        "--to",
        at(SECONDS),
        "--anomaly-range",
        f"{at(1150)}/{at(SECONDS)}",
    ]
    assert train_history(plant, *labelled) == 2
    assert "in the held-back rest (has 0)" in capsys.readouterr().err
    assert train_history(plant, *labelled, "--labels") == 0
    manifest = Model.load(plant / "candidate.onnx").manifest
    assert manifest.recipe.name == "gradient-boosting-on-labelled-windows"
    assert manifest.recipe.params["history"]["held_back_from"] is None


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


def test_stored_labels_and_confirmed_verdicts_are_left_out_and_listed(plant: Path) -> None:
    # On the page: the fault labelled anomaly, a stretch unsure, and an alarm judged
    # confirmed whose label the expert then deleted (its verdict still counts).
    event = uuid.uuid4()

    async def label() -> None:
        async with LabelStore.open(plant / "data" / LABELS_FILE) as store:
            fault = LabelDraft(
                "pump1",
                T0 + timedelta(seconds=FAULT[0]),
                T0 + timedelta(seconds=FAULT[1]),
                "anomaly",
                "bearing",
            )
            await store.add(fault, "expert")
            unsure = LabelDraft(
                "pump1", T0 + timedelta(seconds=500), T0 + timedelta(seconds=520), "unsure"
            )
            await store.add(unsure, "expert")
            start, end = T0 + timedelta(seconds=700), T0 + timedelta(seconds=710)
            await store.record_events(
                [Activation(event, "pump1_anomaly", "pump1.Anomaly", "pump1", start)],
                [("pump1_anomaly", end)],
            )
            _, made = await store.judge(event, VerdictDraft("confirmed", "cavitation"), "expert")
            assert made is not None
            await store.delete(made.id)

    asyncio.run(label())
    assert train_history(plant) == 0
    manifest = Model.load(plant / "candidate.onnx").manifest
    history = manifest.recipe.params["history"]
    used = history["labels_used"]
    assert [(u.get("kind"), u.get("verdict"), u["fault_code"]) for u in used] == [
        ("unsure", None, ""),
        ("anomaly", None, "bearing"),
        (None, "confirmed", "cavitation"),
    ]
    assert used[2]["event_id"] == str(event)
    assert history["anomalous"] == [used[1]["range"], used[2]["range"]]
    assert history["leave_out"] == [used[0]["range"]]
    # The truth: the fault's 60 windows, flagged, and the confirmed alarm's 10, which the
    # normal-looking rows there do not flag.
    assert manifest.metrics["recall"] == pytest.approx(60 / 70)
    assert manifest.metrics["held_back_far"] < 0.05  # the fault is no false alarm now


RUN_S, RUNS = 240, 5


def test_rul_from_runs_between_replacements_carries_an_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Five runs to failure: flow wears upwards through each, a replacement after each.
    config_file(tmp_path)
    rng = np.random.default_rng(5)
    points, entries = [], []
    for run in range(RUNS):
        begun = T0 + timedelta(seconds=run * (RUN_S + 60))
        for n in range(RUN_S):
            at = begun + timedelta(seconds=n)
            for name, centre in CENTRE.items():
                wear = 1 + (0.5 * n / RUN_S if name == "flow" else 0.0)
                value = centre * wear * (1 + 0.01 * rng.standard_normal())
                points.append(Point(f"pump1.{name}", at, value, Quality.GOOD))
        ended = begun + timedelta(seconds=RUN_S)
        entries.append(
            Draft(
                "pump1",
                ended,
                ended + timedelta(seconds=60),
                "part replacement",
                "bearing",
                "",
                True,
            )
        )

    async def write() -> None:
        async with History.open(tmp_path / "data" / FILE_NAME, retention_s=1e9) as history:
            history.record(points)
        async with MaintenanceLog.open(tmp_path / "data" / "maintenance.sqlite") as log:
            for entry in entries:
                await log.add(entry, "fitter")

    asyncio.run(write())
    code = train_history(tmp_path, "--unit", "s", kind="rul")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "a 90% prediction interval" in out
    manifest = Model.load(tmp_path / "candidate.onnx").manifest
    assert manifest.rul_interval is not None
    assert len(manifest.recipe.params["history"]["runs"]) == RUNS
