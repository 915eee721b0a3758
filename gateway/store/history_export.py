"""The tag history as the CSV `uvelka train` reads (analytics.training.datasets.read_recording),
for `GET /api/history?format=csv` and `uvelka history export` alike.

The shape: a header `time,<column>...`; one row per time, oldest first, times strictly
increasing, ISO 8601 in UTC to the millisecond (`2026-12-07T10:00:00.000+00:00`); a value
as Python writes a float (it reads back exactly), an empty cell where a key has no usable
value, which the reader takes as a missing sample. A column is named by its key
(`pump1.flow`), or as asked with `NAME=KEY`: a model is trained on its asset's input names
(`flow=pump1.flow`), the names `[[assets]] inputs` maps.

Without a step, the rows are the stored points as they are, one per distinct time among the
keys (tags read in one request share their time); a Bad or NaN point is an empty cell.
With a step, one row per step from `start`, a row even when every cell is empty, each cell
as `BucketReader.steps` gives it (history_query.py says it in full): the mean of the key's
points in the step when they are all Good; the last Good value carried forward through
steps without a point (the gateway records a value only when it changes, so a steady
value is not missing); empty for a step that holds a not-Good point, and from a not-Good
point (an outage, an Uncertain value) to the key's next Good one, and after the newest
point in the file. A gap stays a gap, so a training window across an outage is
incomplete rather than joined across it.

The range is read in slices, each from its own snapshot, so memory does not grow with the
range and a running gateway's flushes go on in between. `open_read_only` reads a history
file without writing to it, while a gateway may be writing (WAL readers do not block it).
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import io
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiosqlite

from gateway.core.quality import Quality
from gateway.store.history_query import Bucket, BucketReader, Grid
from gateway.store.history_schema import CHUNK_MS, VERSION, from_ms, to_ms
from gateway.store.sqlite_file import SerialConnection

FILE_NAME = "history.sqlite"  # in data_dir
TIME_COLUMN = "time"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A slice of raw points: 60 chunks, 36,000 points of a 100 Hz key at most.
RAW_SLICE_MS = 60 * CHUNK_MS


class ExportError(ValueError):
    """What was asked cannot be exported; str(exc) is one line for the person who asked."""


@dataclass(frozen=True, slots=True)
class Column:
    """A CSV column: its header `name` and the history `key` it holds."""

    name: str
    key: str


def columns_of(texts: Iterable[str], known: Collection[str]) -> list[Column]:
    """Columns from `KEY` or `NAME=KEY` texts, each key among `known` (the keys with
    history); raises ExportError naming the first that is not."""
    found: list[Column] = []
    for text in texts:
        name, named, key = (part.strip() for part in text.partition("="))
        column = Column(name, key) if named else Column(name, name)
        if not column.key or not column.name:
            raise ExportError(f"key {text!r}: expected KEY or NAME=KEY")
        if column.key not in known:
            close = difflib.get_close_matches(column.key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExportError(f"key {column.key!r}: no history of it{hint}")
        if column.name == TIME_COLUMN or column.name in (c.name for c in found):
            raise ExportError(f"column {column.name!r}: named twice (the first is {TIME_COLUMN!r})")
        found.append(column)
    if not found:
        raise ExportError("no keys: give one or more")
    return found


def check_range(start: datetime, end: datetime, step: timedelta | None) -> None:
    """Raise ExportError unless [start, end) is a range of aware times and `step` >= 1 ms."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ExportError("times need a UTC offset")  # callers take naive times as UTC
    if start < EPOCH:
        raise ExportError(f"the start ({start.isoformat()}) is before 1970: nothing is stored")
    if end <= start:
        raise ExportError(
            f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})"
        )
    if step is not None and step < timedelta(milliseconds=1):
        raise ExportError(f"step must be 1 ms or more (got {step.total_seconds():g} s)")


async def csv_text(
    reader: BucketReader,
    ids: Mapping[str, int],
    columns: Sequence[Column],
    start: datetime,
    end: datetime,
    step: timedelta | None,
    *,
    good_only: bool = False,
) -> AsyncIterator[str]:
    """The CSV of `columns` over [start, end), a header then a slice's rows at a time;
    `ids` maps each key to its series. `good_only`: a raw point that is not Good (Uncertain
    ones included) is empty too, as training from history wants (issue #12); a step's
    cell always is (module docstring)."""
    check_range(start, end, step)
    series = {column.key: ids.get(column.key) for column in columns}
    yield _lines([[TIME_COLUMN, *(column.name for column in columns)]])
    start_ms, end_ms = to_ms(start), to_ms(end)
    if step is None:
        for lo in range(start_ms, end_ms, RAW_SLICE_MS):
            hi = min(lo + RAW_SLICE_MS, end_ms)
            found = await reader.read(series, Grid.every(lo, hi, hi - lo), raw=True)
            if rows := _raw_rows(found, columns, good_only):
                yield _lines(rows)
    else:
        width = step // timedelta(milliseconds=1)
        async for grid, values in reader.steps(series, start_ms, end_ms, width):
            yield _lines(_step_rows(values, columns, grid))


def _raw_rows(
    found: Mapping[str, list[Bucket]], columns: Sequence[Column], good_only: bool
) -> list[list[str]]:
    at: dict[datetime, list[str]] = {}
    for index, column in enumerate(columns):
        for point in found[column.key]:
            usable = not good_only or point.quality is Quality.GOOD
            at.setdefault(point.start, [""] * len(columns))[index] = _cell(
                point.mean if usable else None
            )
    return [[_time(t), *cells] for t, cells in sorted(at.items())]


def _step_rows(
    values: Mapping[str, list[float | None]], columns: Sequence[Column], grid: Grid
) -> list[list[str]]:
    cells = [values[column.key] for column in columns]
    return [
        [_time(from_ms(grid.start + n * grid.width)), *(_cell(key[n]) for key in cells)]
        for n in range(grid.count)
    ]


def _time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _lines(rows: Iterable[Sequence[str]]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


@asynccontextmanager
async def open_read_only(path: Path) -> AsyncIterator[tuple[BucketReader, dict[str, int]]]:
    """A reader of the history file at `path` and its series ids by key, never writing to
    the file; raises ExportError when there is none or it is not one this gateway reads."""
    uri = await asyncio.to_thread(_read_only_uri, path)
    try:
        db = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except aiosqlite.Error as exc:
        raise ExportError(f"{path}: cannot be opened: {exc}") from None
    try:
        await db.execute("PRAGMA temp_store=MEMORY")  # the bucket index is a temp table
        try:
            version, ids = await _catalogue(db)
        except aiosqlite.DatabaseError as exc:
            raise ExportError(f"{path}: not a history file ({exc})") from None
        if version != VERSION:
            raise ExportError(
                f"{path}: history schema version {version}; this gateway reads {VERSION}"
            )
        yield await BucketReader.create(SerialConnection(db)), ids
    finally:
        await db.close()


def _read_only_uri(path: Path) -> str:
    if not path.is_file():
        raise ExportError(f"{path}: no history file (is data_dir right, and [history] on?)")
    # mode=ro: SQLite refuses every write, and creates no file (a WAL reader needs the
    # writer's -shm, which a running gateway keeps).
    return f"file:{quote(str(path.resolve()))}?mode=ro"


async def _catalogue(db: aiosqlite.Connection) -> tuple[int, dict[str, int]]:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version != VERSION:
        return version, {}
    async with db.execute("SELECT key, id FROM series") as cursor:
        return version, {str(key): int(id_) async for key, id_ in cursor}
