"""The tag history (issue #5, the Trends page): published samples and scores kept on disk
for a retention time, read back downsampled, on aiosqlite in WAL mode.

Writing: `record_samples` is called on the event loop with every published tuple of
samples and only queues it: at 15,000 points/s, converting each point on the loop cost
~23 % of a core and stalled the loop (issue #17, bench/README.md). `record` (scores,
tests) converts its few points at once. The buffer is bounded: the oldest points are
dropped and counted when it is full (one WARNING when dropping starts, one INFO when it
ends). `run` flushes the buffer every `flush_interval_s` in one transaction on the writer
connection, whose thread turns the batches into rows as SQLite takes them
(history_writer.py); it deletes old points at start and then hourly, one chunk per transaction so
flushes go on in between. A cancelled `run` flushes what is pending first. Points still in
the buffer are lost if the process dies: one flush interval at most. SQLite runs
`synchronous=NORMAL`: a commit survives a killed process, maybe not a power cut.

A full disk (issue #17) never stops the gateway: a flush that cannot be written (ENOSPC,
SQLITE_FULL, any storage error) drops its points, counts them as dropped and reports the
history degraded to the `StorageHealth` (one WARNING); the next flush that succeeds ends
it (one INFO). Retention that fails is tried again at its next hour.

Storage (history_schema.py): a series table maps each key to a small integer id; points
are (chunk, series, t ms, value, quality) in a WITHOUT ROWID table clustered by 10 s time
chunk then series, so a flush dirties about one chunk's pages however many series it
writes. A flush also rolls up the chunks that closed (the wall clock is a chunk past their
end): one summary row per series and chunk, which long queries read instead of points.
A point with the same key and millisecond as a stored one replaces it. Retention deletes
whole chunks: a point goes once its chunk is older than `retention_s`, up to 10 s later.

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
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gateway.core.files import to_the_end
from gateway.core.sample import Sample, Value
from gateway.core.storage import StorageHealth
from gateway.store.history_export import Column, csv_text
from gateway.store.history_query import Bucket, BucketReader, Grid
from gateway.store.history_schema import CHUNK_MS, migrate, to_ms
from gateway.store.history_writer import BAD, STORE, Batch, HistoryWriter, Row
from gateway.store.sqlite_file import SerialConnection, open_sqlite

logger = logging.getLogger(__name__)

_EXPIRY_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a series at a time: `key` is "<device>.<tag>" or "<asset>.<output>",
    `time` aware UTC, `quality` a `Quality` code. `value` takes a sample's value as it is:
    numbers and bools are stored as floats, strings are skipped."""

    key: str
    time: datetime
    value: Value
    quality: int


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """Since open: points written, dropped (from the full buffer, or unwritten on a full
    disk), deleted by retention; now: points recorded but not yet written, bytes of the file
    and its WAL, and whether writes are failing (`degraded`)."""

    written: int
    dropped: int
    expired: int
    pending: int
    file_bytes: int
    degraded: bool


class History:
    """The tag history file; use `History.open`."""

    def __init__(
        self,
        path: Path,
        writer: HistoryWriter,
        reader: BucketReader,
        *,
        retention_s: float,
        flush_interval_s: float,
        max_pending: int,
        clock: Callable[[], float],
    ) -> None:
        self._path = path
        self._writer = writer
        self._reader = reader
        self._retention_s = retention_s
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._clock = clock
        # Batches as recorded, oldest first, and the points in them.
        self._pending: deque[Batch] = deque()
        self._pending_points = 0
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
        health: StorageHealth | None = None,
    ) -> AsyncIterator[History]:
        """Open (creating it and its folder if needed) the history file at `path`; what is
        still pending is written when the context exits. `clock` gives epoch seconds;
        failing writes are reported to `health` (by default one of the file's own)."""
        if not retention_s > 0:
            raise ValueError(f"retention_s must be > 0 (got {retention_s})")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0 (got {flush_interval_s})")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1 (got {max_pending})")
        path = Path(path)
        async with AsyncExitStack() as closing:
            # To its end even when the caller is cancelled meanwhile (then closed at once):
            # a statement of the migration or the loading, cut off in its await, leaves its
            # cursor unfinalized, and SQLite keeps a file whose connection was closed open
            # until the garbage collector frees that cursor (issue #17).
            writer, reader, buckets = await to_the_end(_connections(path, closing, health))
            history = cls(
                path,
                writer,
                buckets,
                retention_s=retention_s,
                flush_interval_s=flush_interval_s,
                max_pending=max_pending,
                clock=clock,
            )
            logger.debug("history %r opened with %d series", str(path), len(writer.ids))
            try:
                yield history
            finally:
                await history.flush()
                await reader.settle()
                await writer.settle()

    def record_samples(self, samples: tuple[Sample, ...]) -> None:
        """Buffer published samples for the next flush, as they are: no work per sample on
        the event loop (the history's thread converts them; strings are not kept). Never
        blocks; drops the oldest when full."""
        if samples:
            self._buffer(samples)

    def record(self, points: Iterable[Point]) -> None:
        """Buffer points for the next flush; never blocks. Drops the oldest when full.
        A point it cannot store (naive or pre-1970 time, unknown quality) raises, and then
        none of the call's points is buffered."""
        rows = [row for point in points if (row := _row(point)) is not None]
        if rows:
            self._buffer(rows)

    def _buffer(self, batch: Batch) -> None:
        self._pending.append(batch)
        self._pending_points += len(batch)
        overflow = self._pending_points - self._max_pending
        if overflow > 0:
            self._drop_oldest(overflow)
            if self._dropped_before_overflow is None:
                self._dropped_before_overflow = self._dropped - overflow
                logger.warning(
                    "history buffer full (%d points): dropping the oldest", self._max_pending
                )
        elif self._dropped_before_overflow is not None:
            logger.info(
                "history buffer has room again; %d points were dropped",
                self._dropped - self._dropped_before_overflow,
            )
            self._dropped_before_overflow = None

    def _drop_oldest(self, count: int) -> None:
        self._pending_points -= count
        self._dropped += count
        while count:
            oldest = self._pending[0]
            if len(oldest) > count:
                self._pending[0] = oldest[count:]
                return
            self._pending.popleft()
            count -= len(oldest)

    async def flush(self) -> int:
        """Write the points recorded so far in one transaction, with the rollups of the
        chunks that closed; returns how many points were recorded (all dropped and
        counted when the write failed for want of disk space)."""
        batches, self._pending = self._pending, deque()
        count, self._pending_points = self._pending_points, 0
        # Chunks a full chunk past their end (by the wall clock) are closed.
        closed_before = math.floor(self._clock() * 1000) // CHUNK_MS - 1
        await self._writer.write(batches, count, closed_before)
        return count

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
        return await self._reader.read({key: self._writer.ids.get(key) for key in keys}, grid)

    def keys(self) -> list[str]:
        """Keys of the series written so far, sorted."""
        return sorted(self._writer.ids)

    def export(
        self, columns: Sequence[Column], start: datetime, end: datetime, step: timedelta | None
    ) -> AsyncIterator[str]:
        """The CSV `uvelka train` reads of `columns` over [start, end), raw or one row per
        `step`, in pieces (history_export.py); flushes go on in between."""
        return csv_text(self._reader, self._writer.ids, columns, start, end, step)

    @property
    def stats(self) -> HistoryStats:
        """Counters for metrics and status objects (not for the log)."""
        return HistoryStats(
            written=self._writer.written,
            dropped=self._dropped + self._writer.lost,
            expired=self._writer.expired,
            pending=self._pending_points + self._writer.in_flight,
            file_bytes=_size(self._path) + _size(self._path.with_name(self._path.name + "-wal")),
            degraded=STORE in self._writer.health.problems(),
        )

    async def _expire_when(self, due: asyncio.Event) -> None:
        # Its own task: deleting a long backlog takes many transactions, flushes go between.
        while True:
            await due.wait()
            due.clear()
            cutoff_ms = math.floor((self._clock() - self._retention_s) * 1000)
            before = self._writer.expired
            while await self._writer.expire_oldest_chunk(cutoff_ms):
                pass  # one chunk per transaction: flushes queued meanwhile go in between
            if self._writer.expired > before:
                logger.debug(
                    "history deleted %d points older than %g s",
                    self._writer.expired - before,
                    self._retention_s,
                )


async def _connections(
    path: Path, closing: AsyncExitStack, health: StorageHealth | None
) -> tuple[HistoryWriter, SerialConnection, BucketReader]:
    """The writer (its file migrated and loaded), the reader's connection and its reader;
    `closing` closes both connections."""
    write_db = await open_sqlite(path, synchronous="NORMAL")
    closing.push_async_callback(write_db.close)
    await migrate(write_db, str(path))
    writer = await HistoryWriter.load(
        SerialConnection(write_db), health or StorageHealth(path.parent)
    )
    read_db = await open_sqlite(path, synchronous="NORMAL", script="PRAGMA temp_store=MEMORY;")
    closing.push_async_callback(read_db.close)
    reader = SerialConnection(read_db)
    return writer, reader, await BucketReader.create(reader)


def _row(point: Point) -> Row | None:
    value = point.value
    if isinstance(value, str):
        return None
    quality = int(point.quality)
    try:
        bad = BAD[quality]
    except KeyError:
        raise ValueError(f"{point.key}: unknown quality code {quality!r}") from None
    return (point.key, to_ms(point.time), None if bad or value is None else float(value), quality)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
