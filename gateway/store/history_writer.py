"""Writing the tag history: batches of points, rollups of closed chunks, retention.

Everything here runs on the writer connection, one operation at a time: a flush is one
transaction that inserts the points, re-rolls the chunks that late points landed in, and
rolls up the chunks that closed since the last flush; retention deletes one whole chunk
(points and rollups) per transaction, so flushes go on in between.

A flush's batches are turned into rows (`_PointRows`) as SQLite takes them, in the writer
connection's thread: samples as the poll loops published them, so the event loop does
nothing per point (issue #17). The samples of one read share their time: its millisecond
time, chunk and whether the chunk is rolled up are worked out once per read, not per
point. Rows go to SQLite `GROUP` at a time, flattened into the parameters of one
multi-row INSERT: SQLite takes them for about a third less CPU than as many one-row
statements, and no Python tuple is made per point (bench/README.md, issue #17). Never
a list of the whole flush: 15,000 tuples alive at once made the collector run young
collections twice as often, which promoted enough short-lived objects of the loop to run
a full collection (~0.7 s at 15,000 monitored tags) every 3-4 s.

A write or deletion that fails for a storage reason (a full disk: ENOSPC, SQLITE_FULL) is
rolled back, reported to the `StorageHealth` and not raised: the flush's points are lost
and counted (`lost`), retention waits for its next pass (issue #17).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import cast

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.storage import StorageHealth, is_storage_error
from gateway.store.history_schema import CHUNK_MS, to_ms
from gateway.store.sqlite_file import SerialConnection

STORE = "history"  # its name in StorageHealth, /metrics and the page
# Quality code -> keeps no value (OPC UA Part 4 7.7.1: a Bad value is not usable).
BAD = {quality.value: quality.is_bad for quality in Quality}

# By Quality (codes 0, 1, ...): its code as an int, and whether it keeps no value.
_QUALITY = tuple((code, Quality(code).is_bad) for code in range(len(Quality)))

# A buffered point: key, time in ms, value (None: not usable), quality code.
Row = tuple[str, int, float | None, int]
# What one record call buffered: published samples as they are, or converted rows.
Batch = Sequence[Sample] | Sequence[Row]
_PointRow = tuple[int, int, int, float | None, int]
# Rows flattened, one after the other: chunk, series, t, value, quality.
_Values = list[int | float | None]

# Rows per INSERT: bench/README.md measured 10 to 1,000, all about as fast; a group's
# values are one small list alive at a time.
GROUP = 100
_WIDTH = 5  # values per row, as in _PointRow
_INSERT_SERIES = "INSERT INTO series (id, key) VALUES (?, ?)"
_INSERT_INTO_POINT = "INSERT OR REPLACE INTO point (chunk, series, t, value, quality) VALUES "
_INSERT_POINT = _INSERT_INTO_POINT + "(?, ?, ?, ?, ?)"
_INSERT_POINTS = _INSERT_INTO_POINT + ", ".join(["(?, ?, ?, ?, ?)"] * GROUP)
_SUMMARY = (
    "SELECT chunk, series, MIN(value), MAX(value), SUM(value), COUNT(value), COUNT(*),"
    " MAX(quality) FROM point"
)
_ROLL_CHUNK = f"INSERT INTO rollup {_SUMMARY} WHERE chunk = ? GROUP BY series"
_REROLL = f"INSERT OR REPLACE INTO rollup {_SUMMARY} WHERE chunk = ? AND series = ?"
_NEXT_CHUNK = "SELECT MIN(chunk) FROM point WHERE chunk > ?"
_OLDEST_CHUNK = "SELECT MIN(chunk) FROM point"
_DELETE_POINTS = "DELETE FROM point WHERE chunk = ?"
_DELETE_ROLLUPS = "DELETE FROM rollup WHERE chunk = ?"


class HistoryWriter:
    """Owns the writer connection and what it has committed: series ids, counters."""

    def __init__(
        self,
        connection: SerialConnection,
        health: StorageHealth,
        ids: dict[str, int],
        rolled: int,
        newest: int,
    ) -> None:
        self._connection = connection
        self.health = health
        # Committed series only: a key gets its id in memory after the flush that wrote it.
        self.ids = ids
        self._next_id = max(ids.values(), default=0) + 1
        self._rolled = rolled  # every chunk up to this one is rolled up
        self._newest = newest  # the newest chunk holding points
        self.written = 0
        self.lost = 0  # points of flushes that failed for want of disk space
        self.expired = 0
        self.in_flight = 0

    @classmethod
    async def load(cls, connection: SerialConnection, health: StorageHealth) -> HistoryWriter:
        """The writer of the file behind `connection`, with what the file already holds;
        failing writes are reported to `health`."""
        db = connection.db
        async with db.execute("SELECT key, id FROM series") as cursor:
            ids = {key: series_id for key, series_id in await cursor.fetchall()}
        async with db.execute(
            "SELECT (SELECT MAX(chunk) FROM rollup), (SELECT MAX(chunk) FROM point)"
        ) as cursor:
            row = await cursor.fetchone()
        rolled, newest = row if row else (None, None)
        return cls(
            connection,
            health,
            ids,
            -1 if rolled is None else rolled,
            -1 if newest is None else newest,
        )

    async def write(self, batches: Iterable[Batch], count: int, closed_before: int) -> None:
        """Commit the `count` points of `batches` and roll up every chunk older than
        `closed_before`; the write goes on if the caller is cancelled."""
        roll_due = self._rolled < min(self._newest, closed_before - 1)
        if not count and not roll_due:
            return
        self.in_flight += count
        await self._connection.run(self._write(batches, count, closed_before))

    async def expire_oldest_chunk(self, cutoff_ms: int) -> int:
        """Delete the oldest chunk if it ends at or before `cutoff_ms`; returns how many
        points it held (0: nothing left to expire)."""
        try:
            return await self._connection.run(self._expire_oldest_chunk(cutoff_ms))
        except Exception as error:
            self.health.absorb(STORE, "delete expired history", error)
            return 0

    async def settle(self) -> None:
        """Wait for writes whose callers were cancelled; before the connection closes."""
        await self._connection.settle()

    async def _write(self, batches: Iterable[Batch], count: int, closed_before: int) -> None:
        try:
            await self._commit(batches, closed_before)
        except Exception as error:
            if not is_storage_error(error):
                raise
            self.lost += count
            self.health.failed(STORE, "write the history", error)
        else:
            self.health.ok(STORE)
        finally:
            self.in_flight -= count

    async def _commit(self, batches: Iterable[Batch], closed_before: int) -> None:
        db = self._connection.db
        rows = _PointRows(batches, self.ids, self._next_id, self._rolled)
        async with self._connection.transaction(write=True):
            # Rows are made in the connection's thread as SQLite inserts them, in groups
            # and then the few left over.
            await db.executemany(_INSERT_POINTS, rows)
            await db.executemany(_INSERT_POINT, rows.rest)
            fresh = [(series_id, key) for key, series_id in rows.fresh.items()]
            if fresh:
                await db.executemany(_INSERT_SERIES, fresh)
            await db.executemany(_REROLL, rows.late)
            rolled = await self._roll(closed_before)
        # Only after the commit: a rolled-back flush assigned and rolled nothing.
        self.ids.update(rows.fresh)
        self._next_id += len(fresh)
        self._newest = max(self._newest, rows.newest)
        self._rolled = rolled
        self.written += rows.count

    async def _roll(self, closed_before: int) -> int:
        """Roll up, in order, the chunks after the rolled ones that closed; returns the
        newest rolled chunk."""
        db = self._connection.db
        rolled = self._rolled
        while True:
            async with db.execute(_NEXT_CHUNK, (rolled,)) as cursor:
                row = await cursor.fetchone()
            chunk = row[0] if row else None
            if chunk is None or chunk >= closed_before:
                return rolled
            await db.execute(_ROLL_CHUNK, (chunk,))
            rolled = chunk

    async def _expire_oldest_chunk(self, cutoff_ms: int) -> int:
        db = self._connection.db
        async with db.execute(_OLDEST_CHUNK) as cursor:
            row = await cursor.fetchone()
        oldest = row[0] if row else None
        if oldest is None or (oldest + 1) * CHUNK_MS > cutoff_ms:
            return 0
        async with self._connection.transaction(write=True):
            cursor = await db.execute(_DELETE_POINTS, (oldest,))
            await db.execute(_DELETE_ROLLUPS, (oldest,))
        self.expired += cursor.rowcount
        return cursor.rowcount


class _PointRows:
    """The point rows of a flush, made while iterated (new keys numbered from `next_id`):
    the values of `GROUP` rows at a time, the rows left over in `rest` at the end.
    Afterwards it holds the new keys' ids, the (chunk, series) pairs of points in rolled-up
    chunks, the newest chunk and the count. In the order recorded: of two points at the
    same key and millisecond the last recorded is inserted last, so it is the one kept."""

    def __init__(
        self, batches: Iterable[Batch], ids: dict[str, int], next_id: int, rolled: int
    ) -> None:
        self._batches = batches
        self._ids = ids
        self._next_id = next_id
        self._rolled = rolled
        self._times: dict[datetime, int] = {}
        self.fresh: dict[str, int] = {}
        self.late: set[tuple[int, int]] = set()
        self.rest: list[_PointRow] = []
        self.newest = -1
        self.count = 0

    def __iter__(self) -> Iterator[_Values]:
        size = GROUP * _WIDTH
        values: _Values = []
        for batch in self._batches:
            of_samples = isinstance(batch[0], Sample)
            items = iter(batch)
            # A group at a time: a long batch of `record` never makes a long list.
            for _ in range(0, len(batch), GROUP):
                part = islice(items, GROUP)
                if of_samples:
                    self._add_samples(cast(Iterator[Sample], part), values)
                else:
                    self._add_rows(cast(Iterator[Row], part), values)
                if len(values) >= size:
                    self.count += GROUP
                    yield values[:size]
                    del values[:size]
        self.rest = [
            cast(_PointRow, tuple(values[at : at + _WIDTH])) for at in range(0, len(values), _WIDTH)
        ]
        self.count += len(self.rest)

    def _add_samples(self, samples: Iterable[Sample], values: _Values) -> None:
        """Append the samples' rows to `values`; strings are left out."""
        series_of, late = self._ids.get, self.late
        when: datetime | None = None
        t = chunk = 0
        is_late = False
        for sample in samples:
            value = sample.value
            if isinstance(value, str):
                continue
            if sample.source_time is not when:  # the samples of one read share their time
                when = sample.source_time
                t, chunk, is_late = self._time(when)
            series = series_of(sample.key)
            if series is None:
                series = self._fresh(sample.key)
            if is_late:
                late.add((chunk, series))
            code, no_value = _QUALITY[sample.quality]
            values += (chunk, series, t, None if value is None or no_value else float(value), code)

    def _add_rows(self, rows: Iterable[Row], values: _Values) -> None:
        """Append the converted rows of `History.record`."""
        series_of, rolled = self._ids.get, self._rolled
        for key, t, value, quality in rows:
            series = series_of(key)
            if series is None:
                series = self._fresh(key)
            chunk = t // CHUNK_MS
            if chunk <= rolled:
                self.late.add((chunk, series))
            self.newest = max(self.newest, chunk)
            values += (chunk, series, t, value, quality)

    def _time(self, when: datetime) -> tuple[int, int, bool]:
        """The time in ms, its chunk, and whether that chunk is rolled up already."""
        t = self._times.get(when)
        if t is None:
            t = self._times[when] = to_ms(when)
        chunk = t // CHUNK_MS
        self.newest = max(self.newest, chunk)
        return t, chunk, chunk <= self._rolled

    def _fresh(self, key: str) -> int:
        """The id of a key the file does not hold yet, numbered in order of appearance."""
        series = self.fresh.get(key)
        if series is None:
            series = self.fresh[key] = self._next_id + len(self.fresh)
        return series
