"""The tag history (issue #5, the Trends page): published samples and scores kept on disk
for a retention time, read back downsampled, on aiosqlite in WAL mode.

Writing: `record` is called on the event loop for every published point; it only
converts the point and appends it to a bounded buffer (the oldest points are dropped and
counted when it is full: one WARNING when dropping starts, one INFO when it ends). `run`
writes the buffer every `flush_interval_s` in one transaction on the writer connection,
and deletes points older than `retention_s` at start and then hourly, one chunk per
transaction so flushes go on in between. A cancelled `run` flushes what is pending first.
Points still in the buffer are lost if the process dies: at most one flush interval.
SQLite runs `synchronous=NORMAL`: a commit survives a killed process, maybe not a power cut.

Storage (history_schema.py): a series table maps each key to a small integer id; points
are (chunk, series, t ms, value, quality) in a WITHOUT ROWID table clustered by time chunk
then series, so a flush dirties about one chunk's pages however many series it writes.
A point with the same key and millisecond as a stored one replaces it.

Values: numbers and bools are kept as floats; strings are not kept. A point of Bad quality
keeps no value (OPC UA Part 4 7.7.1: a Bad value is not usable), nor does a NaN (SQLite
stores NaN as NULL); both still count in their bucket's count and quality.

Reading (history_query.py): `query` runs on a second connection, so a long query does not
hold up flushes; it reads one snapshot, with what was flushed when it started.
"""

from __future__ import annotations

import asyncio
import logging
import math
import operator
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiosqlite

from gateway.core.quality import Quality
from gateway.core.sample import Value
from gateway.store.history_connection import SerialConnection
from gateway.store.history_query import Bucket, BucketReader, Grid
from gateway.store.history_schema import CHUNK_MS, migrate, to_ms

logger = logging.getLogger(__name__)

_EXPIRY_INTERVAL_S = 3600.0
# A buffered point: key, time in ms, value (None: not usable), quality code.
_Row = tuple[str, int, float | None, int]
_BAD = {quality.value: quality.is_bad for quality in Quality}
_POINT_KEY = operator.itemgetter(0, 1, 2)  # (chunk, series, t): the table's primary key

_INSERT_SERIES = "INSERT INTO series (id, key) VALUES (?, ?)"
_INSERT_POINT = (
    "INSERT OR REPLACE INTO point (chunk, series, t, value, quality) VALUES (?, ?, ?, ?, ?)"
)
_OLDEST_CHUNK = "SELECT MIN(chunk) FROM point"
_EXPIRE_CHUNK = "DELETE FROM point WHERE chunk = ? AND t < ?"


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a series at a time: `key` is "<device>.<tag>" or "<asset>.<output>",
    `time` aware UTC, `quality` a `Quality` code."""

    key: str
    time: datetime
    value: Value
    quality: int


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """Points written and dropped since open, recorded but not yet written, bytes on disk."""

    written: int
    dropped: int
    pending: int
    file_bytes: int


class History:
    """The tag history file; use `History.open`."""

    def __init__(
        self,
        path: Path,
        writer: SerialConnection,
        reader: BucketReader,
        ids: dict[str, int],
        *,
        retention_s: float,
        flush_interval_s: float,
        max_pending: int,
        clock: Callable[[], float],
    ) -> None:
        self._path = path
        self._writer = writer
        self._reader = reader
        # Committed series only: a key gets its id in memory after the flush that wrote it.
        self._ids = ids
        self._next_id = max(ids.values(), default=0) + 1
        self._retention_s = retention_s
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._clock = clock
        self._pending: deque[_Row] = deque(maxlen=max_pending)
        self._in_flight = 0
        self._written = 0
        self._dropped = 0
        self._dropped_before_overflow: int | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path | str,
        *,
        retention_s: float,
        flush_interval_s: float = 1.0,
        max_pending: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[History]:
        """Open (creating it and its folder if needed) the history file at `path`; what is
        still pending is written when the context exits. `clock` gives epoch seconds."""
        if not retention_s > 0:
            raise ValueError(f"retention_s must be > 0 (got {retention_s})")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0 (got {flush_interval_s})")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1 (got {max_pending})")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, transactions are explicit (BEGIN .. COMMIT).
        async with aiosqlite.connect(path, isolation_level=None) as write_db:
            await write_db.execute("PRAGMA journal_mode=WAL")
            await write_db.execute("PRAGMA synchronous=NORMAL")
            await migrate(write_db, str(path))
            async with write_db.execute("SELECT key, id FROM series") as cursor:
                ids = {key: series_id for key, series_id in await cursor.fetchall()}
            async with aiosqlite.connect(path, isolation_level=None) as read_db:
                await read_db.execute("PRAGMA temp_store=MEMORY")
                reader = SerialConnection(read_db)
                writer = SerialConnection(write_db)
                history = cls(
                    path,
                    writer,
                    await BucketReader.create(reader),
                    ids,
                    retention_s=retention_s,
                    flush_interval_s=flush_interval_s,
                    max_pending=max_pending,
                    clock=clock,
                )
                logger.debug("history %r opened with %d series", str(path), len(ids))
                try:
                    yield history
                finally:
                    await history.flush()
                    await reader.settle()
                    await writer.settle()

    def record(self, points: Iterable[Point]) -> None:
        """Buffer points for the next flush; never blocks. Drops the oldest when full."""
        rows = [row for point in points if (row := _row(point)) is not None]
        overflow = len(self._pending) + len(rows) - self._max_pending
        # A deque with maxlen discards from the left, the oldest, as the new rows go in.
        self._pending.extend(rows)
        if overflow > 0:
            if self._dropped_before_overflow is None:
                self._dropped_before_overflow = self._dropped
                logger.warning(
                    "history buffer full (%d points): dropping the oldest", self._max_pending
                )
            self._dropped += overflow
        elif rows and self._dropped_before_overflow is not None:
            logger.info(
                "history buffer has room again; %d points were dropped",
                self._dropped - self._dropped_before_overflow,
            )
            self._dropped_before_overflow = None

    async def flush(self) -> int:
        """Write the points recorded so far in one transaction; returns how many."""
        batch, self._pending = self._pending, deque(maxlen=self._max_pending)
        if not batch:
            return 0
        self._in_flight += len(batch)
        await self._writer.run(self._write(batch))
        return len(batch)

    async def run(self) -> None:
        """Flush every `flush_interval_s` and delete expired points at start and hourly,
        until cancelled; a cancel flushes what is pending, then propagates."""
        expiry_due = asyncio.Event()
        next_expiry = -math.inf
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._expire_when(expiry_due), name="history-retention")
                while True:
                    # The injected wall clock decides, so tests move it instead of waiting.
                    if self._clock() >= next_expiry:
                        next_expiry = self._clock() + _EXPIRY_INTERVAL_S
                        expiry_due.set()
                    await asyncio.sleep(self._flush_interval_s)
                    await self.flush()
        except asyncio.CancelledError:
            await self.flush()
            raise

    async def query(
        self, keys: Iterable[str], start: datetime, end: datetime, max_points: int = 1000
    ) -> dict[str, list[Bucket]]:
        """Each key's points in [start, end) (aware datetimes) as at most `max_points`
        equal time buckets, or raw (buckets of one) when it has no more points than that."""
        grid = Grid.over(start, end, max_points)
        return await self._reader.read({key: self._ids.get(key) for key in keys}, grid)

    def keys(self) -> list[str]:
        """Keys of the series written so far, sorted."""
        return sorted(self._ids)

    @property
    def stats(self) -> HistoryStats:
        return HistoryStats(
            written=self._written,
            dropped=self._dropped,
            pending=len(self._pending) + self._in_flight,
            file_bytes=_size(self._path) + _size(self._path.with_name(self._path.name + "-wal")),
        )

    async def _write(self, batch: deque[_Row]) -> None:
        try:
            # Building and sorting 15,000 rows takes milliseconds: off the event loop.
            rows, fresh = await asyncio.to_thread(_prepare, batch, self._ids, self._next_id)
            async with self._writer.transaction(write=True):
                if fresh:
                    await self._writer.db.executemany(_INSERT_SERIES, fresh)
                await self._writer.db.executemany(_INSERT_POINT, rows)
            # Only after the commit: a rolled-back flush assigned nothing.
            self._ids.update((key, series_id) for series_id, key in fresh)
            self._next_id += len(fresh)
            self._written += len(rows)
        finally:
            self._in_flight -= len(batch)

    async def _expire_when(self, due: asyncio.Event) -> None:
        # Its own task: deleting a long backlog takes many transactions, flushes go between.
        while True:
            await due.wait()
            due.clear()
            await self._expire()

    async def _expire(self) -> None:
        cutoff = math.floor((self._clock() - self._retention_s) * 1000)
        deleted = 0
        while removed := await self._writer.run(self._expire_oldest_chunk(cutoff)):
            deleted += removed
        if deleted:
            logger.debug("history deleted %d points older than %g s", deleted, self._retention_s)

    async def _expire_oldest_chunk(self, cutoff_ms: int) -> int:
        """Delete the expired points of the oldest chunk; 0 when it holds none."""
        db = self._writer.db
        async with db.execute(_OLDEST_CHUNK) as cursor:
            row = await cursor.fetchone()
        oldest = row[0] if row else None
        if oldest is None or oldest > cutoff_ms // CHUNK_MS:
            return 0
        cursor = await db.execute(_EXPIRE_CHUNK, (oldest, cutoff_ms))
        return cursor.rowcount


def _row(point: Point) -> _Row | None:
    value = point.value
    if isinstance(value, str):
        return None
    quality = int(point.quality)
    try:
        bad = _BAD[quality]
    except KeyError:
        raise ValueError(f"{point.key}: unknown quality code {quality!r}") from None
    return (point.key, to_ms(point.time), None if bad or value is None else float(value), quality)


def _prepare(
    batch: Iterable[_Row], ids: dict[str, int], next_id: int
) -> tuple[list[tuple[int, int, int, float | None, int]], list[tuple[int, str]]]:
    """Rows for the point table in key order (ids for new keys numbered from `next_id`),
    and the new (id, key) pairs for the series table."""
    fresh: dict[str, int] = {}
    rows = []
    for key, t, value, quality in batch:
        series_id = ids.get(key)
        if series_id is None:
            series_id = fresh.get(key)
        if series_id is None:
            series_id = fresh[key] = next_id + len(fresh)
        rows.append((t // CHUNK_MS, series_id, t, value, quality))
    # In key order each page of the current chunk is written once; a stable sort keeps the
    # last of two points at the same millisecond last, so it is the one that stays.
    rows.sort(key=_POINT_KEY)
    return rows, [(series_id, key) for key, series_id in fresh.items()]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
