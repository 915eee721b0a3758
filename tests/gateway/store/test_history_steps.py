"""Exports at a step (issue #12): the gateway records a value only when it changes, so a
value that held steady over a step is carried forward, not left empty; a step holding a
not-Good point is empty, and so is every step from it to the key's next Good point, and
after the newest point in the file. Through the real History store, the CLI and a
reference written here from the rule; rollups give the same cells as raw points."""

from __future__ import annotations

import asyncio
import bisect
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.training.datasets import read_recording
from gateway.core.quality import Quality
from gateway.store import History, Point
from gateway.store.history_export import FILE_NAME, Column, csv_text, open_read_only
from gateway.store.history_query import STEP_SLICE
from gateway.store.history_schema import to_ms

B = datetime(2027, 1, 15, 6, 0, tzinfo=UTC)  # on a chunk's start
SECOND = timedelta(seconds=1)
SPAN = 60  # seconds exported
KEYS = ("pump1.flow", "pump1.pressure", "pump1.temperature", "pump1.mode")


def at(seconds: float, base: datetime = B) -> datetime:
    return base + timedelta(seconds=seconds)


def steady_with_outage(base: datetime = B) -> list[Point]:
    """As the poller publishes them: flow changes twice, then the device goes down (Bad)
    and comes back; pressure changes every second (to 60.5 s, past the range); the
    temperature's link fails (Uncertain, then Bad) and returns; mode was set an hour
    before and never changed."""

    def p(key: str, seconds: float, value: float | None, quality: Quality) -> Point:
        return Point(key, base + timedelta(seconds=seconds), value, quality)

    return [
        p("pump1.mode", -3600.0, 1.0, Quality.GOOD),
        p("pump1.flow", 0.0, 50.0, Quality.GOOD),
        p("pump1.flow", 12.25, 52.0, Quality.GOOD),
        p("pump1.flow", 30.1, 52.5, Quality.GOOD),  # Good, then Bad in the same step
        p("pump1.flow", 30.4, None, Quality.COMM_ERROR),
        p("pump1.flow", 40.6, 53.0, Quality.GOOD),
        p("pump1.temperature", 0.0, 60.0, Quality.GOOD),
        p("pump1.temperature", 20.3, 60.0, Quality.LAST_USABLE),
        p("pump1.temperature", 22.3, None, Quality.COMM_ERROR),
        p("pump1.temperature", 25.7, 61.0, Quality.GOOD),
        *(
            p("pump1.pressure", n + 0.5, 4.0 + (n % 4) * 0.25, Quality.GOOD)
            for n in range(SPAN + 1)
        ),
    ]


def expected_at_one_second() -> dict[str, list[float | None]]:
    """Each key's cells at a 1 s step over [B, B + 60 s), by hand."""
    return {
        "pump1.flow": [50.0] * 12 + [52.0] * 18 + [None] * 10 + [53.0] * 20,
        "pump1.pressure": [4.0 + (n % 4) * 0.25 for n in range(SPAN)],
        "pump1.temperature": [60.0] * 20 + [None] * 5 + [61.0] * 35,
        "pump1.mode": [1.0] * SPAN,
    }


def csv_lines(
    columns: Sequence[str], cells: dict[str, list[float | None]], step: float, base: datetime = B
) -> list[str]:
    rows = len(cells[columns[0]])
    lines = [",".join(["time", *columns])]
    for n in range(rows):
        time = at(n * step, base).isoformat(timespec="milliseconds")
        values = ("" if cells[c][n] is None else repr(cells[c][n]) for c in columns)
        lines.append(",".join([time, *values]))
    return lines


def reference(
    points: Sequence[Point], key: str, start: datetime, end: datetime, step: timedelta
) -> list[float | None]:
    """The rule, written plainly over the points (docs/web.md, history export)."""
    mine = sorted((to_ms(p.time), p) for p in points if p.key == key)
    times = [t for t, _ in mine]
    recorded_end = max(to_ms(p.time) for p in points)
    width, lo, stop = step // timedelta(milliseconds=1), to_ms(start), to_ms(end)
    cells: list[float | None] = []
    for step_start in range(lo, stop, width):
        step_end = min(step_start + width, stop)
        inside = [p for t, p in mine[bisect.bisect_left(times, step_start) :] if t < step_end]
        if inside:
            clean = all(p.quality == Quality.GOOD and p.value is not None for p in inside)
            cells.append(sum(float(p.value) for p in inside) / len(inside) if clean else None)
            continue
        before = bisect.bisect_left(times, step_start) - 1
        last = mine[before][1] if before >= 0 else None
        held = last is not None and last.quality == Quality.GOOD and last.value is not None
        cells.append(float(last.value) if held and step_end <= recorded_end + 1 else None)
    return cells


def write(path: Path, points: list[Point], *, rolled_up: bool) -> None:
    """A history file as a gateway leaves it; `rolled_up`: its chunks closed by the wall
    clock, so long steps read rollups, or still open, so they read the points."""
    now = (at(SPAN) + timedelta(days=1) if rolled_up else at(-3600.0)).timestamp()

    async def record() -> None:
        async with History.open(path, retention_s=1e9, clock=lambda: now) as history:
            history.record(points)

    asyncio.run(record())


def rollups(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM rollup").fetchone()
    return int(count)


async def export_lines(
    path: Path, keys: Sequence[str], start: datetime, end: datetime, step: timedelta
) -> list[str]:
    """Read-only, as `uvelka history export` reads: the file keeps its rollups as they are."""
    async with open_read_only(path) as (reader, ids):
        pieces = csv_text(reader, ids, [Column(k, k) for k in keys], start, end, step)
        return "".join([piece async for piece in pieces]).splitlines()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The scenario in two files: chunks rolled up, and not."""
    found = {}
    for name, rolled_up in (("rolled", True), ("open", False)):
        path = tmp_path_factory.mktemp(name) / FILE_NAME
        write(path, steady_with_outage(), rolled_up=rolled_up)
        found[name] = path
    assert rollups(found["rolled"]) > 0
    assert rollups(found["open"]) == 0
    return found


async def test_a_steady_value_is_carried_an_outage_stays_a_gap(files: dict[str, Path]) -> None:
    lines = await export_lines(files["rolled"], KEYS, B, at(SPAN), SECOND)
    assert lines == csv_lines(KEYS, expected_at_one_second(), 1.0)
    # No empty cell while a value held steady: flow rows 0-29 and 40-59, every row of mode.
    flow = [line.split(",")[1] for line in lines[1:]]
    assert "" not in flow[:30] + flow[40:]
    assert flow[30:40] == [""] * 10  # the step it went down in, and the outage
    assert flow[40] == "53.0"  # the value right after


async def test_the_value_before_the_range_is_carried_into_it(files: dict[str, Path]) -> None:
    assert await export_lines(files["rolled"], KEYS, at(14), at(17), SECOND) == [
        "time,pump1.flow,pump1.pressure,pump1.temperature,pump1.mode",
        f"{at(14).isoformat(timespec='milliseconds')},52.0,4.5,60.0,1.0",
        f"{at(15).isoformat(timespec='milliseconds')},52.0,4.75,60.0,1.0",
        f"{at(16).isoformat(timespec='milliseconds')},52.0,4.0,60.0,1.0",
    ]
    # A range that starts in the outage is empty until the key's next Good point.
    lines = await export_lines(files["rolled"], ["pump1.flow"], at(33), at(42), SECOND)
    assert [line.split(",")[1] for line in lines[1:]] == [""] * 7 + ["53.0", "53.0"]


async def test_nothing_is_carried_past_the_newest_point(files: dict[str, Path]) -> None:
    lines = await export_lines(
        files["rolled"], ["pump1.flow", "pump1.pressure"], at(58), at(63), SECOND
    )
    assert [line.split(",")[1:] for line in lines[1:]] == [
        ["53.0", "4.5"],
        ["53.0", "4.75"],
        ["", "4.0"],  # the file's newest point is at 60.5 s: this step is not all recorded
        ["", ""],
        ["", ""],
    ]


@pytest.mark.parametrize("step_s", [0.002, 0.7, 1.0, 3.0, 10.0, 20.0, 30.0])
async def test_rollups_and_points_give_the_reference_cells(
    files: dict[str, Path], step_s: float
) -> None:
    """The two read paths agree to the byte (values sum exactly in binary) with the rule
    written plainly; 0.002 s is 30,000 steps, three slices carried one into the next."""
    step = timedelta(seconds=step_s)
    points = steady_with_outage()
    cells = {key: reference(points, key, B, at(SPAN), step) for key in KEYS}
    expected = csv_lines(KEYS, cells, step_s)
    if step_s == 0.002:
        assert len(expected) - 1 > 2 * STEP_SLICE
    for path in files.values():
        assert await export_lines(path, KEYS, B, at(SPAN), step) == expected
    assert rollups(files["open"]) == 0
    if step_s == 10.0:  # by hand: the 10 s steps of flow and temperature
        assert cells["pump1.flow"] == [50.0, 52.0, 52.0, None, 53.0, 53.0]
        assert cells["pump1.temperature"] == [60.0, 60.0, None, 61.0, 61.0, 61.0]


def test_the_cli_exports_the_same_and_the_trainer_reads_it_whole(
    files: dict[str, Path], tmp_path: Path
) -> None:
    keys = "flow=pump1.flow,pressure=pump1.pressure,temperature=pump1.temperature,pump1.mode"
    argv = [
        "history",
        "export",
        "--data-dir",
        str(files["rolled"].parent),
        "--keys",
        keys,
        "--from",
        B.isoformat(),
        "--to",
        at(SPAN).isoformat(),
        "--step",
        "1",
    ]
    done = subprocess.run(  # noqa: S603 - our own CLI, arguments from the test
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = done.stdout
    names = ["flow", "pressure", "temperature", "pump1.mode"]
    renamed = dict(zip(names, expected_at_one_second().values(), strict=True))
    assert out.splitlines() == csv_lines(names, renamed, 1.0)
    file = tmp_path / "flow.csv"
    file.write_text(out, encoding="utf-8")
    values = read_recording(file).values
    missing = np.isnan(values)
    assert not missing[:, [1, 3]].any()  # pressure changes each second, mode never
    assert missing[:, 2].tolist() == [False] * 20 + [True] * 5 + [False] * 35
    assert missing[:, 0].tolist() == [False] * 30 + [True] * 10 + [False] * 20
