"""Reading the tag history: equal time buckets aggregated in SQL, or the raw points.

A query splits [start, end) into equal buckets of `width` ms, as few as `max_points`
allow, and aggregates each in SQL: min, max and mean over the points that have a value,
the count of every point, and the worst quality. A series with no more points in range
than `max_points` is returned raw instead, each point a bucket of one.

A bucket is cut into pieces, one per chunk it overlaps. A piece whose chunk lies wholly
inside the bucket and is rolled up is read from its rollup row; the others, at the
bucket's edges or in chunks not rolled up yet, from their points. The two aggregates of
each bucket are then merged, in Python over at most two rows per bucket.

The plan, checked with EXPLAIN QUERY PLAN: bucket indexes come from a temporary table
scanned in order, chunk offsets from a small recursive CTE, both CTEs over them are
flattened, and each piece is one primary-key seek. CROSS JOIN fixes that loop order, so
GROUP BY follows the outer loop and SQLite aggregates as it goes, where a GROUP BY over a
computed bucket number would sort every row in range first (+130 ms for 600k rows).

Steps (`BucketReader.steps`, every export at a step: the CSV of the page, of `uvelka
history export`, of the labels, and training from history). The gateway records a point
only when a value changes beyond its deadband or its quality changes (gateway/runtime/
tag_state.py), so a value that held steady has no point in a step, and is not missing.
A key's value in a step is:
- the mean of its points in the step, when they are all Good with a value;
- empty when any of them is not: Bad or Uncertain quality, or Good without a value (NaN).
  A step in which the device went down, or came back part-way through a not-Good spell,
  was not seen Good throughout: its Good points alone would pass a half-known step for a
  whole one, and a training window reaching into the outage for complete;
- with no point in the step, the value of the key's last point before it, carried
  forward (sample-and-hold) while that point is Good with a value and the step lies
  wholly before the end of recorded data (the newest point of any key in the file);
  otherwise empty. So an outage stays a gap from its first point to the key's next Good
  one, and so does the time after the file's last point (a stopped gateway, or now).
The last point before a range is found by walking back one chunk at a time, a primary-key
seek each, to the oldest chunk in the file: one query per key per range (~2.5 us a chunk,
150 ms for a key without a point in 7 days of history; retention bounds it). A slice that
ended on a point looks it up again at the next slice's start, found in the chunk before.
The last point of a step is read only where a step without points follows it.
Rollups and points give the same cells: a cell needs only the sum and count of values,
the count of points and the worst quality, which a rollup row holds as the points do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.core.quality import Quality
from gateway.store.history_schema import CHUNK_MS, from_ms, to_ms
from gateway.store.sqlite_file import SerialConnection

# The bucket index table holds this many rows at most: a chart needs far fewer points.
MAX_POINTS = 100_000
STEP_SLICE = 10_000  # steps read from one snapshot

_PIECES = """
WITH RECURSIVE chunk_offset(n) AS (
    SELECT 0 UNION ALL SELECT n + 1 FROM chunk_offset WHERE n + 1 < :chunks_per_bucket
),
bucket(n, lo, hi) AS (
    SELECT n, :start + n * :width, MIN(:start + (n + 1) * :width, :end)
    FROM bucket_index WHERE n < :buckets
),
piece(n, lo, hi, chunk) AS (
    SELECT b.n, b.lo, b.hi, b.lo / :chunk_ms + c.n
    FROM bucket AS b CROSS JOIN chunk_offset AS c
    WHERE c.n <= (b.hi - 1) / :chunk_ms - b.lo / :chunk_ms
),
-- whole: the chunk lies inside the bucket and is rolled up, its rollup row stands for it.
part(n, lo, hi, chunk, whole) AS (
    SELECT n, lo, hi, chunk,
        chunk <= :rolled AND chunk * :chunk_ms >= lo AND (chunk + 1) * :chunk_ms <= hi
    FROM piece
)
"""


def _over_parts(select: str) -> str:
    """A statement whose `select` reads `part`: the pieces of the query's buckets."""
    return _PIECES + select


_FROM_ROLLUPS = _over_parts(
    "SELECT x.n, MIN(r.low), MAX(r.high), SUM(r.total), SUM(r.n_values), SUM(r.n_points),"
    " MAX(r.worst) FROM part AS x CROSS JOIN rollup AS r"
    " WHERE x.whole AND r.chunk = x.chunk AND r.series = :series"
    " GROUP BY x.n ORDER BY x.n"
)
_FROM_POINTS = _over_parts(
    "SELECT x.n, MIN(p.value), MAX(p.value), SUM(p.value), COUNT(p.value), COUNT(*),"
    " MAX(p.quality) FROM part AS x CROSS JOIN point AS p"
    " WHERE NOT x.whole AND p.chunk = x.chunk AND p.series = :series"
    " AND p.t >= x.lo AND p.t < x.hi GROUP BY x.n ORDER BY x.n"
)
_RAW = _over_parts(
    "SELECT p.t, p.value, p.quality FROM part AS x CROSS JOIN point AS p"
    " WHERE p.chunk = x.chunk AND p.series = :series AND p.t >= x.lo AND p.t < x.hi"
    " ORDER BY p.t"
)
# The last point of each step (of each piece: the last row of a step is the step's).
_LAST_POINTS = _over_parts(
    "SELECT x.n, p.value, p.quality FROM part AS x CROSS JOIN point AS p"
    " WHERE p.chunk = x.chunk AND p.series = :series AND p.t = ("
    "SELECT q.t FROM point AS q WHERE q.chunk = x.chunk AND q.series = :series"
    " AND q.t >= x.lo AND q.t < x.hi ORDER BY q.t DESC LIMIT 1) ORDER BY x.n, p.t"
)
# The last point before :before, one chunk back at a time down to :oldest.
_LAST_BEFORE = """
WITH RECURSIVE walk(chunk, t) AS (
    SELECT :top + 1, NULL
    UNION ALL
    SELECT w.chunk - 1, (
        SELECT p.t FROM point AS p
        WHERE p.chunk = w.chunk - 1 AND p.series = :series AND p.t < :before
        ORDER BY p.t DESC LIMIT 1
    ) FROM walk AS w WHERE w.t IS NULL AND w.chunk > :oldest
)
SELECT p.value, p.quality FROM walk AS w CROSS JOIN point AS p
WHERE w.t IS NOT NULL AND p.chunk = w.chunk AND p.series = :series AND p.t = w.t
"""
_OLDEST = "SELECT MIN(chunk) FROM point"
# Where recorded data ends: the newest point of any key (a scan of the newest chunk).
_RECORDED_END = "SELECT MAX(t) FROM point WHERE chunk = (SELECT MAX(chunk) FROM point)"
_ROLLED = "SELECT MAX(chunk) FROM rollup"
_CREATE_INDEX = "CREATE TEMP TABLE bucket_index (n INTEGER PRIMARY KEY)"
_GROW_INDEX = """
WITH RECURSIVE k(n) AS (SELECT :have UNION ALL SELECT n + 1 FROM k WHERE n + 1 < :want)
INSERT INTO bucket_index (n) SELECT n FROM k
"""
# An aggregate of some points of one bucket: index, min, max, sum, values, points, worst.
_Part = tuple[int, float | None, float | None, float | None, int, int, int]


@dataclass(frozen=True, slots=True)
class Bucket:
    """Points of one series in the bucket from `start`: min, max and mean of those with a
    value (None when none has), how many points in all, and the worst of their qualities.
    A raw point is a bucket of one at its own time."""

    start: datetime
    min: float | None
    max: float | None
    mean: float | None
    count: int
    quality: Quality


@dataclass(frozen=True, slots=True)
class Grid:
    """Equal buckets of `width` ms from `start` ms, `count` of them, that cover [start, end);
    a series with at most `max_points` points in range is returned raw."""

    start: int
    end: int
    width: int
    count: int
    max_points: int

    @classmethod
    def over(cls, start: datetime, end: datetime, max_points: int) -> Grid:
        """The fewest equal buckets, at most `max_points`, that cover [start, end)."""
        if not 1 <= max_points <= MAX_POINTS:
            raise ValueError(f"max_points must be in 1..{MAX_POINTS} (got {max_points})")
        start_ms, end_ms = to_ms(start), to_ms(end)
        if end_ms <= start_ms:
            raise ValueError(f"end ({end}) must be after start ({start}) by 1 ms at least")
        span = end_ms - start_ms
        width = -(-span // max_points)
        return cls(start_ms, end_ms, width, -(-span // width), max_points)

    @classmethod
    def every(cls, start_ms: int, end_ms: int, width_ms: int) -> Grid:
        """Buckets of `width_ms` from `start_ms` that cover [start_ms, end_ms), the last one
        cut short at the end (the history export's steps)."""
        if width_ms < 1 or end_ms <= start_ms:
            raise ValueError(f"no buckets of {width_ms} ms over [{start_ms}, {end_ms}) ms")
        count = -(-(end_ms - start_ms) // width_ms)
        if count > MAX_POINTS:
            raise ValueError(f"{count} buckets, more than {MAX_POINTS}")
        return cls(start_ms, end_ms, width_ms, count, count)

    def parameters(self, series: int, rolled: int) -> dict[str, int]:
        return {
            "start": self.start,
            "end": self.end,
            "width": self.width,
            "buckets": self.count,
            # A bucket of `width` ms touches at most this many chunks.
            "chunks_per_bucket": (self.width - 1) // CHUNK_MS + 2,
            "chunk_ms": CHUNK_MS,
            "series": series,
            "rolled": rolled,
        }


class BucketReader:
    """Answers queries on the reader connection, which holds the bucket index table."""

    def __init__(self, connection: SerialConnection) -> None:
        self._connection = connection
        self._indexed = 0

    @classmethod
    async def create(cls, connection: SerialConnection) -> BucketReader:
        await connection.db.execute(_CREATE_INDEX)
        return cls(connection)

    async def read(
        self, series: Mapping[str, int | None], grid: Grid, *, raw: bool | None = None
    ) -> dict[str, list[Bucket]]:
        """Buckets of each key (its series id, None if never written), from one snapshot:
        raw points or aggregated as `raw` says, by default raw when a key has no more
        points than `grid.max_points`."""
        return await self._connection.run(self._read(series, grid, raw))

    async def steps(
        self, series: Mapping[str, int | None], start_ms: int, end_ms: int, width_ms: int
    ) -> AsyncIterator[tuple[Grid, dict[str, list[float | None]]]]:
        """Each key's value in each step of `width_ms` over [start_ms, end_ms) (None: empty;
        the module docstring says which), STEP_SLICE steps at a time, each slice from its
        own snapshot; a value is carried from one slice into the next."""
        held: dict[str, float | None] = {}
        for lo in range(start_ms, end_ms, width_ms * STEP_SLICE):
            grid = Grid.every(lo, min(lo + width_ms * STEP_SLICE, end_ms), width_ms)
            yield grid, await self._connection.run(self._steps(series, grid, held))

    async def _read(
        self, series: Mapping[str, int | None], grid: Grid, raw: bool | None
    ) -> dict[str, list[Bucket]]:
        db = await self._indexed_db(grid)
        result: dict[str, list[Bucket]] = {}
        async with self._connection.transaction(write=False):
            rolled = await _rolled(db)
            for key, series_id in series.items():
                if series_id is None:
                    result[key] = []
                    continue
                parameters = grid.parameters(series_id, rolled)
                parts: list[_Part] = []
                if raw is not True:
                    parts = await _parts(db, parameters)
                if raw is False or (
                    raw is None and sum(part[5] for part in parts) > grid.max_points
                ):
                    result[key] = _merge(parts, grid)
                else:
                    points = await _fetch(db, _RAW, parameters)
                    result[key] = [Bucket(from_ms(t), v, v, v, 1, Quality(q)) for t, v, q in points]
        return result

    async def _steps(
        self, series: Mapping[str, int | None], grid: Grid, held: dict[str, float | None]
    ) -> dict[str, list[float | None]]:
        """One slice of `steps`; `held` is each key's value carried into the slice (a key
        not in it: read from before the slice), updated to the value carried out of it
        when the slice ends without a point."""
        db = await self._indexed_db(grid)
        result: dict[str, list[float | None]] = {}
        async with self._connection.transaction(write=False):
            rolled = await _rolled(db)
            (oldest,) = (await _fetch(db, _OLDEST, {}))[0]
            (recorded_end,) = (await _fetch(db, _RECORDED_END, {}))[0]
            # A step is carried into only when it ends by the end of recorded data.
            carried_steps = 0 if recorded_end is None else _steps_before(grid, recorded_end + 1)
            for key, series_id in series.items():
                if series_id is None:
                    result[key] = [None] * grid.count
                    continue
                parameters = grid.parameters(series_id, rolled)
                if key not in held:
                    before = {
                        "top": (grid.start - 1) // CHUNK_MS,
                        "before": grid.start,
                        "series": series_id,
                        "oldest": oldest,
                    }
                    rows = await _fetch(db, _LAST_BEFORE, before)
                    held[key] = _usable(rows[0] if rows else None)
                carried = held.pop(key)
                found = _aggregates(await _parts(db, parameters))
                # A step's last point matters only where a step without points follows it.
                lasts: dict[int, float | None] = {}
                if any(n + 1 < grid.count and n + 1 not in found for n in found):
                    lasts = {
                        n: _usable(row[1:])
                        for row in await _fetch(db, _LAST_POINTS, parameters)
                        if (n := row[0]) + 1 < grid.count and n + 1 not in found
                    }
                values: list[float | None] = []
                for n in range(grid.count):
                    aggregate = found.get(n)
                    if aggregate is None:
                        values.append(carried if n < carried_steps else None)
                        continue
                    _, _, total, with_value, points, worst = aggregate
                    clean = worst == Quality.GOOD and with_value == points
                    values.append(total / with_value if clean else None)
                    carried = lasts.get(n, carried)
                if grid.count - 1 not in found:
                    held[key] = carried  # else the next slice reads its last point again
                result[key] = values
        return result

    async def _indexed_db(self, grid: Grid) -> aiosqlite.Connection:
        """The connection, its bucket index grown to `grid`'s buckets."""
        db = self._connection.db
        if self._indexed < grid.count:
            await db.execute(_GROW_INDEX, {"have": self._indexed, "want": grid.count})
            self._indexed = grid.count
        return db


def _steps_before(grid: Grid, end_ms: int) -> int:
    """How many of `grid`'s buckets end by `end_ms`."""
    whole = (end_ms - grid.start) // grid.width if end_ms >= grid.start else 0
    return grid.count if end_ms >= grid.end else min(whole, grid.count)


def _usable(point: Sequence[Any] | None) -> float | None:
    """The value of a point (value, quality), if there is one and it is Good."""
    if point is None:
        return None
    value, quality = point
    return float(value) if value is not None and quality == Quality.GOOD else None


async def _rolled(db: aiosqlite.Connection) -> int:
    (rolled,) = (await _fetch(db, _ROLLED, {}))[0]
    return -1 if rolled is None else int(rolled)


async def _parts(db: aiosqlite.Connection, parameters: Mapping[str, int]) -> list[_Part]:
    """The aggregates of the pieces of a grid's buckets, from rollups and from points."""
    parts: list[_Part] = await _fetch(db, _FROM_ROLLUPS, parameters)
    return parts + await _fetch(db, _FROM_POINTS, parameters)


def _aggregates(parts: Iterable[_Part]) -> dict[int, list[Any]]:
    """Each bucket's aggregate (min, max, sum and count of values, points, worst quality),
    merged from those of its pieces."""
    merged: dict[int, list[Any]] = {}
    for n, low, high, total, values, points, worst in parts:
        into = merged.get(n)
        if into is None:
            merged[n] = [low, high, total, values, points, worst]
            continue
        if low is not None:
            into[0] = low if into[0] is None else min(into[0], low)
            into[1] = high if into[1] is None else max(into[1], high)
            into[2] = total if into[2] is None else into[2] + total
        into[3] += values
        into[4] += points
        into[5] = max(into[5], worst)
    return merged


def _merge(parts: Iterable[_Part], grid: Grid) -> list[Bucket]:
    """Buckets from the aggregates of their pieces, read from rollups and from points."""
    return [
        Bucket(
            from_ms(grid.start + n * grid.width),
            low,
            high,
            total / values if values else None,
            points,
            Quality(worst),
        )
        for n, (low, high, total, values, points, worst) in sorted(_aggregates(parts).items())
    ]


async def _fetch(
    db: aiosqlite.Connection, sql: str, parameters: Mapping[str, int | None]
) -> list[Any]:
    async with db.execute(sql, parameters) as cursor:
        return list(await cursor.fetchall())
