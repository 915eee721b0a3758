"""The history export (issue #11): the CSV that `uvelka history export` and the page's
`format=csv` write, read back by the reader `uvelka train` uses (read_recording), and
trained on; raw points and steps; the CLI's one-line errors; read-only while a gateway
writes to the same file."""

from __future__ import annotations

import asyncio
import io
import math
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from analytics.training.datasets import read_recording
from gateway.__main__ import main as uvelka
from gateway.cli.history_export import export_history
from gateway.core.quality import Quality
from gateway.store import History, Point
from gateway.store.history_export import FILE_NAME, ExportError, columns_of
from tests.fixtures.assets import CENTRE

T0 = datetime(2027, 1, 15, 6, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def clock() -> float:
    return (T0 + timedelta(days=1)).timestamp()  # every chunk of the tests is closed


def write(data_dir: Path, points: list[Point]) -> None:
    """A history file as a gateway leaves it (the CLI runs its own event loop, so the tests
    that call it are not coroutines)."""

    async def record() -> None:
        async with History.open(data_dir / FILE_NAME, retention_s=1e9, clock=clock) as history:
            history.record(points)

    asyncio.run(record())


def export(
    data_dir: Path, keys: str, start: datetime, end: datetime, step: float | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    code = export_history(
        Namespace(
            data_dir=data_dir, keys=keys, start=start.isoformat(), end=end.isoformat(), step=step
        ),
        out,
    )
    return code, out.getvalue()


def test_raw_points_read_back_by_the_training_reader_with_gaps_as_nan(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        [
            Point("pump1.flow", T0, 50.25, Quality.GOOD),
            Point("pump1.pressure", T0, 4.0, Quality.GOOD),
            Point("pump1.flow", T0 + SECOND, 51.0, Quality.COMM_ERROR),  # Bad: no value
            Point("pump1.pressure", T0 + SECOND, 4.5, Quality.GOOD),
            Point("pump1.flow", T0 + 2 * SECOND, math.nan, Quality.GOOD),
            Point("pump1.flow", T0 + 3 * SECOND, 0.1 + 0.2, Quality.GOOD),  # not a short decimal
            Point("pump1.flow", T0 + 10 * SECOND, 99.0, Quality.GOOD),  # after the range
        ],
    )
    code, text = export(tmp_path, "flow=pump1.flow,pump1.pressure", T0, T0 + 10 * SECOND)
    assert code == 0
    assert text.splitlines()[:2] == [
        "time,flow,pump1.pressure",
        "2027-01-15T06:00:00.000+00:00,50.25,4.0",
    ]
    file = tmp_path / "export.csv"
    file.write_text(text, encoding="utf-8")
    recording = read_recording(file)
    assert recording.signals == ("flow", "pump1.pressure")
    assert recording.timestamps.tolist() == [
        (T0 + n * SECOND).replace(tzinfo=None) for n in range(4)
    ]
    np.testing.assert_array_equal(
        recording.values, [[50.25, 4.0], [np.nan, 4.5], [np.nan, np.nan], [0.1 + 0.2, np.nan]]
    )


def test_a_step_gives_each_keys_mean_or_its_held_value_and_a_row_for_every_step(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        [
            Point("a.x", T0, 1.0, Quality.GOOD),
            Point("a.x", T0 + SECOND, 3.0, Quality.GOOD),
            Point("b.y", T0 + 1.5 * SECOND, 10.0, Quality.GOOD),  # another device's read time
            Point("a.x", T0 + 6 * SECOND, 5.0, Quality.GOOD),
        ],
    )
    code, text = export(tmp_path, "a.x,b.y", T0, T0 + 7 * SECOND, step=2.0)
    assert code == 0
    assert text.splitlines() == [
        "time,a.x,b.y",
        "2027-01-15T06:00:00.000+00:00,2.0,10.0",
        "2027-01-15T06:00:02.000+00:00,3.0,10.0",  # unchanged values, held (issue #12)
        "2027-01-15T06:00:04.000+00:00,3.0,10.0",
        # The last step, cut short by the end; b.y is not held past the file's newest point.
        "2027-01-15T06:00:06.000+00:00,5.0,",
    ]


def test_an_export_trains_an_anomaly_model_with_uvelka_train(tmp_path: Path) -> None:
    """The round trip the issue asks for: the plant's own history, exported, trained on."""
    rng = np.random.default_rng(3)
    points = [
        Point(
            f"pump1.{signal}",
            T0 + n * SECOND,
            centre * (1 + 0.01 * rng.standard_normal()),
            Quality.GOOD,
        )
        for n in range(450)
        for signal, centre in CENTRE.items()
    ]
    write(tmp_path, points)
    keys = ",".join(f"{signal}=pump1.{signal}" for signal in CENTRE)
    data = tmp_path / "pump1.csv"
    with data.open("w", encoding="utf-8") as file:
        assert (
            export_history(
                Namespace(
                    data_dir=tmp_path,
                    keys=keys,
                    start=T0.isoformat(),
                    end=(T0 + 450 * SECOND).isoformat(),
                    step=1.0,
                ),
                file,
            )
            == 0
        )
    model = tmp_path / "pump1.onnx"
    assert uvelka(["train", "anomaly", "--data", str(data), "--out", str(model)]) == 0
    assert Model.load(model).manifest.inputs == tuple(CENTRE)


async def test_the_export_reads_while_a_gateway_writes_to_the_same_file(
    tmp_path: Path,
) -> None:
    async with History.open(tmp_path / FILE_NAME, retention_s=1e9, clock=clock) as history:
        history.record([Point("a.x", T0, 1.0, Quality.GOOD)])
        await history.flush()
        code, text = await asyncio.to_thread(export, tmp_path, "a.x", T0, T0 + SECOND)
        assert (code, text) == (0, "time,a.x\n2027-01-15T06:00:00.000+00:00,1.0\n")
        history.record([Point("a.x", T0 + SECOND, 2.0, Quality.GOOD)])
        assert await history.flush() == 1  # the writer was not held up by the reader
    code, text = await asyncio.to_thread(export, tmp_path, "a.x", T0, T0 + 2 * SECOND)
    assert text.splitlines()[-1] == "2027-01-15T06:00:01.000+00:00,2.0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--keys", "pump1.flwo"],
            "key 'pump1.flwo': no history of it; did you mean 'pump1.flow'?",
        ),
        (["--keys", "flow=pump1.flow,flow=pump1.flow"], "column 'flow': named twice"),
        (["--from", "yesterday"], "--from: expected an ISO 8601 time, got 'yesterday'"),
        (
            ["--to", "2027-01-15T05:00:00"],
            "the end (2027-01-15T05:00:00+00:00) must be after the "
            "start (2027-01-15T06:00:00+00:00)",
        ),
        (["--step", "0"], "step must be 1 ms or more (got 0 s)"),
        (["--data-dir", "nowhere"], "nowhere/history.sqlite: no history file"),
    ],
)
def test_a_bad_request_is_one_line_on_stderr_and_exit_status_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    write(tmp_path, [Point("pump1.flow", T0, 1.0, Quality.GOOD)])
    monkeypatch.chdir(tmp_path)
    options = {
        "--data-dir": str(tmp_path),
        "--keys": "flow=pump1.flow",
        "--from": T0.isoformat(),
        "--to": (T0 + SECOND).isoformat(),
    }
    options.update(zip(argv[::2], argv[1::2], strict=True))
    code = uvelka(["history", "export", *(part for item in options.items() for part in item)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith(f"uvelka history export: {message}")
    assert captured.err.count("\n") == 1


def test_columns_are_keys_or_named_keys() -> None:
    known = {"pump1.flow", "pump1.Anomaly"}
    assert [(c.name, c.key) for c in columns_of(["pump1.flow", " a = pump1.Anomaly"], known)] == [
        ("pump1.flow", "pump1.flow"),
        ("a", "pump1.Anomaly"),
    ]
    for bad in (["=pump1.flow"], ["time=pump1.flow"], []):
        with pytest.raises(ExportError):
            columns_of(bad, known)
