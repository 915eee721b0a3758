"""Recordings of the simulated pump: deterministic, readable by the training loaders."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from analytics.training.datasets import read_recording
from drivers.plant.pump import Scenario
from drivers.plant.recording import SIGNALS, record

START = datetime(2026, 1, 1, tzinfo=UTC)


def recording(seed: int, rows: int = 120, life_hours: float = 1.0) -> str:
    out = io.StringIO()
    record(out, rows, 60.0, seed, Scenario(life_hours=life_hours, repair_after_h=0.5), START)
    return out.getvalue()


def test_same_seed_same_file_other_seed_other_file() -> None:
    assert recording(4) == recording(4)
    assert recording(4) != recording(5)


def test_rows_are_sampled_at_the_period_and_loadable(tmp_path: Path) -> None:
    path = tmp_path / "pump.csv"
    path.write_text(recording(1), encoding="utf-8")
    loaded = read_recording(path)
    assert list(loaded.signals[: len(SIGNALS)]) == list(SIGNALS)
    assert len(loaded.values) == 120
    steps = {(b - a).astype("timedelta64[s]").astype(int) for a, b in
             zip(loaded.timestamps[:-1], loaded.timestamps[1:], strict=True)}
    assert steps == {60}


def test_without_truth_only_the_signals_are_written() -> None:
    out = io.StringIO()
    record(out, 3, 60.0, 1, Scenario(), START, truth=False)
    assert out.getvalue().splitlines()[0] == ",".join(("timestamp", *SIGNALS))


def test_a_short_life_wears_out_is_labelled_and_repaired() -> None:
    lines = recording(2, rows=240, life_hours=1.0).splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert {row["anomaly"] for row in rows} == {"0", "1"}
    assert int(rows[-1]["run"]) >= 1  # at least one new bearing in four simulated hours
    first_run = [float(row["remaining_life_h"]) for row in rows if row["run"] == "0"]
    assert first_run == sorted(first_run, reverse=True)
