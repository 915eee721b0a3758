"""The agreement of model versions with the experts (issue #12): figures from a history,
labels and verdicts written by the real stores, checked against counts worked out here
from the scenario; `uvelka report --json` gives the same figures, reading only."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.alarms.episodes import Episode, episodes
from gateway.alarms.rules import AlarmRule, Condition
from gateway.core.quality import Quality
from gateway.page.agreement import AgreementError, read_agreement
from gateway.store.history import History, Point
from gateway.store.labels import Activation, LabelDraft, LabelStore, VerdictDraft
from gateway.store.model_timeline import FILE_NAME, AlarmDelays, ModelTimeline, Period

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
STEP = timedelta(seconds=10)
H, M, S = timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=1)
DELAYS = AlarmDelays(on_delay_s=30.0, off_delay_s=0.0)

# Runs of Anomaly = true [start, end) on a 10 s grid, as offsets from T0. An episode starts
# 30 s (the on-delay) into a run and ends at the run's first false point; B is too short.
ACTIVE_RUNS = {
    "A": (1 * H, 1 * H + 5 * M),
    "B": (2 * H, 2 * H + 30 * S),
    "C": (13 * H, 13 * H + 10 * M),
    "D": (20 * H, 20 * H + 2 * M),
}
SHADOW_RUNS = {"E": (7 * H, 7 * H + 3 * M), "F": (12 * H + 50 * M, 13 * H + 5 * M)}
LABELS = {
    "L1": (58 * M, 1 * H + 10 * M),
    "L2": (12 * H + 55 * M, 13 * H + 20 * M),
    "L3": (15 * H, 15 * H + 10 * M),
}


def series(
    key: str, start: timedelta, end: timedelta, runs: dict[str, tuple[timedelta, timedelta]]
) -> list[Point]:
    points, at = [], start
    while at < end:
        on = any(lo <= at < hi for lo, hi in runs.values())
        points.append(Point(key, T0 + at, on, int(Quality.GOOD)))
        at += STEP
    return points


def episode(run: tuple[timedelta, timedelta]) -> tuple[datetime, datetime]:
    return T0 + run[0] + 30 * S, T0 + run[1]


async def make_data_dir(data_dir: Path) -> None:
    async with History.open(data_dir / "history.sqlite", retention_s=7 * 86400.0) as history:
        history.record(series("pump1.Anomaly", timedelta(0), 24 * H, ACTIVE_RUNS))
        history.record(series("pump1.shadow.Anomaly", 6 * H, 18 * H, SHADOW_RUNS))
        await history.flush()
    async with LabelStore.open(data_dir / "labels.sqlite") as store:
        for lo, hi in LABELS.values():
            await store.add(LabelDraft("pump1", T0 + lo, T0 + hi, "anomaly"), "expert")
        await store.add(LabelDraft("pump2", T0 + 1 * H, T0 + 2 * H, "anomaly"), "expert")
        # The activations of the active model's alarm at A, C and D, with verdicts: on C
        # confirmed (also an anomaly label over C), on D false, on A unsure.
        judged = {"A": "unsure", "C": "confirmed", "D": "false"}
        for name, verdict in judged.items():
            activated, cleared = episode(ACTIVE_RUNS[name])
            event = uuid.uuid4()
            await store.record_events(
                [Activation(event, "pump1_anomaly", "pump1.Anomaly", "pump1", activated)],
                [("pump1_anomaly", cleared)],
            )
            await store.judge(event, VerdictDraft(verdict), "expert")
    timeline = ModelTimeline(
        data_dir / FILE_NAME,
        periods=[
            Period("pump1", "anomaly", "active", "v1", T0, T0 + 12 * H),
            Period("pump1", "anomaly", "active", "v2", T0 + 12 * H),
            Period("pump1", "anomaly", "shadow", "c1", T0 + 6 * H, T0 + 18 * H),
        ],
        alarms={"pump1": DELAYS},
    )
    timeline.save()


# Worked out from the scenario (see the module's runs and labels): v1 runs the first 12 h
# (4320 points 10 s apart), v2 the next 12 h, the candidate c1 in shadow from 6 h to 18 h.
EXPECTED = [
    {
        "role": "active",
        "version": "v1",
        "scored_s": 43200.0,
        "episodes": 1,
        "verdicts": {"confirmed": 0, "false": 0, "unsure": 1},
        "anomaly_labels": 1,
        "caught": 1,
        "recall": 1.0,
        "false_alarms": 0,
        "false_alarms_per_day": 0.0,
        "time_to_alarm_s": [150.0],
    },  # A starts at 1 h 0 min 30 s, L1 at 58 min
    {
        "role": "active",
        "version": "v2",
        "scored_s": 43200.0,
        "episodes": 2,
        "verdicts": {"confirmed": 1, "false": 1, "unsure": 0},
        # L2, the confirmed verdict's label over C, L3 (caught: L2 and C's own)
        "anomaly_labels": 3,
        "caught": 2,
        "recall": 2 / 3,
        "false_alarms": 1,
        "false_alarms_per_day": 2.0,  # D, in half a day
        "time_to_alarm_s": [330.0, 0.0],
    },
    {
        "role": "shadow",
        "version": "c1",
        "scored_s": 43200.0,
        "episodes": 2,
        "verdicts": {"confirmed": 1, "false": 0, "unsure": 0},  # F overlaps C's alarm
        "anomaly_labels": 3,
        "caught": 2,
        "recall": 2 / 3,
        "false_alarms": 1,
        "false_alarms_per_day": 2.0,  # E
        # F alarms before L2 and before C's range: negative times
        "time_to_alarm_s": [-270.0, -600.0],
    },
]


async def test_figures_per_version_match_the_counts_of_the_scenario(tmp_path: Path) -> None:
    await make_data_dir(tmp_path)
    timeline = ModelTimeline.read(tmp_path / FILE_NAME)
    found = await read_agreement(tmp_path, "pump1", timeline, T0, T0 + 24 * H)
    assert found["alarm"] == {"on_delay_s": 30.0, "off_delay_s": 0.0}
    assert [v["version"] for v in found["versions"]] == ["v1", "v2", "c1"]
    for got, want in zip(found["versions"], EXPECTED, strict=True):
        assert got == want, want["version"]


def test_the_report_command_prints_the_same_figures_and_changes_no_file(
    tmp_path: Path,
) -> None:
    import asyncio  # noqa: PLC0415 (the command runs its own loop: this test has none)

    asyncio.run(make_data_dir(tmp_path))
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    command = [
        sys.executable,
        "-m",
        "gateway",
        "report",
        "--asset",
        "pump1",
        "--data-dir",
        str(tmp_path),
        "--from",
        T0.isoformat(),
        "--to",
        (T0 + 24 * H).isoformat(),
    ]
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    versions = json.loads(done.stdout)["versions"]
    for got, want in zip(versions, EXPECTED, strict=True):
        assert got == want, want["version"]
    table = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert "shadow  c1  12.0  2  1/0/0  2/3  2.00  -270,-600" in table.stdout
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    # SQLite's WAL reader may make its -shm/-wal files when no gateway holds them open.
    assert {
        name: data for name, data in after.items() if not name.endswith(("-shm", "-wal"))
    } == before

    unknown = subprocess.run(
        [*command[:5], "pump9", *command[6:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 2
    assert "pump9: no anomaly alarm delays recorded" in unknown.stderr


async def test_an_asset_without_recorded_delays_is_refused(tmp_path: Path) -> None:
    timeline = ModelTimeline(tmp_path / FILE_NAME)
    with pytest.raises(AgreementError, match="no anomaly alarm delays"):
        await read_agreement(tmp_path, "pump1", timeline, T0, T0 + H)


def test_episodes_follow_the_alarm_delays_and_unusable_points_restart_them() -> None:
    rule = AlarmRule("a", "pump1.Anomaly", Condition.TRUE, on_delay_s=20.0, off_delay_s=10.0)
    at = [T0 + n * STEP for n in range(12)]
    values: list[bool | None] = [
        True,
        True,
        None,
        True,
        True,
        True,
        False,
        True,
        False,
        False,
        True,
        True,
    ]
    # The None restarts the on-delay: on at 5 (3..5 held 20 s); the false at 6 is not
    # held for the off-delay (true again at 7); off at 9 (8..9 held 10 s); 10..11 holds
    # 10 s of the 20 s on-delay: no second episode.
    assert episodes(zip(at, values, strict=True), rule) == [Episode(at[5], at[9])]
    assert episodes(zip(at[:7], [True] * 7, strict=True), rule) == [
        Episode(at[2], at[6], open=True)
    ]
