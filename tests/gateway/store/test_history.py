"""The tag history on a real SQLite file: round trip, downsampling against a reference
with and without rollups, late points, retention, the bounded buffer, cancel, reopen,
values it does not keep, concurrency."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import aiosqlite
import pytest

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.storage import StorageHealth
from gateway.store import Bucket, History, NewerSchema, Point
from gateway.store.history_schema import CHUNK_MS
from gateway.store.history_writer import GROUP
from tests.fixtures.disk import SmallDisk

T0 = datetime(2027, 1, 15, 6, 0, tzinfo=UTC)
RETENTION_S = 3600.0
WAIT_S = 10.0


class Clock:
    """Wall clock (epoch seconds) the tests move by hand instead of waiting."""

    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "history.db"


@pytest.fixture
async def history(path: Path, clock: Clock) -> AsyncIterator[History]:
    async with History.open(path, retention_s=RETENTION_S, clock=clock) as opened:
        yield opened


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll an async condition until true; fail after WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up after {WAIT_S} s waiting for {what}")
        await asyncio.sleep(0.01)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def raw(time: datetime, value: float | None, quality: Quality = Quality.GOOD) -> Bucket:
    return Bucket(time, value, value, value, 1, quality)


async def all_of(history: History, key: str, start: datetime, end: datetime) -> list[Bucket]:
    return (await history.query([key], start, end, max_points=100_000))[key]


async def test_round_trip_returns_raw_points_in_time_order(history: History) -> None:
    history.record(
        [
            Point("d1.speed", at(2), 1500, Quality.GOOD),
            Point("d1.speed", at(0), 12.25, Quality.GOOD),
            Point("d1.running", at(1), True, Quality.GOOD),
            Point("d1.speed", at(1.5), -3.5, Quality.LAST_USABLE),
            # Sub-millisecond digits are dropped: times are stored in whole milliseconds.
            Point("d1.speed", at(3.0004567), 7.0, Quality.GOOD),
        ]
    )
    assert history.stats.pending == 5
    assert await history.flush() == 5

    result = await history.query(["d1.speed", "d1.running", "d9.unknown"], at(0), at(10))

    assert result == {
        "d1.speed": [
            raw(at(0), 12.25),
            raw(at(1.5), -3.5, Quality.LAST_USABLE),
            raw(at(2), 1500.0),
            raw(at(3.0), 7.0),
        ],
        "d1.running": [raw(at(1), 1.0)],
        "d9.unknown": [],
    }
    assert history.keys() == ["d1.running", "d1.speed"]
    stats = history.stats
    assert (stats.written, stats.dropped, stats.expired, stats.pending) == (5, 0, 0, 0)
    assert stats.file_bytes > 0


async def test_range_is_start_inclusive_end_exclusive(history: History) -> None:
    history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(5))
    await history.flush()

    assert [b.mean for b in await all_of(history, "k", at(1), at(3))] == [1.0, 2.0]


async def test_same_key_and_millisecond_keeps_the_last_recorded(history: History) -> None:
    history.record([Point("k", at(1), 1.0, Quality.GOOD)])
    await history.flush()
    history.record([Point("k", at(1), 2.0, Quality.GOOD), Point("k", at(1), 3.0, Quality.GOOD)])
    await history.flush()

    assert await all_of(history, "k", at(0), at(2)) == [raw(at(1), 3.0)]


def reference(
    points: list[tuple[int, float | None, Quality]], start: int, end: int, max_points: int
) -> list[tuple[int, float | None, float | None, float | None, int, Quality]]:
    """Buckets computed by hand: (start ms, min, max, mean, count, worst quality)."""
    width = math.ceil((end - start) / max_points)
    buckets: dict[int, list[tuple[float | None, Quality]]] = {}
    for t, value, quality in sorted(points, key=lambda p: p[0]):
        if start <= t < end:
            usable = None if quality.is_bad else value
            buckets.setdefault((t - start) // width, []).append((usable, quality))
    expected = []
    for index in sorted(buckets):
        members = buckets[index]
        values = [v for v, _ in members if v is not None]
        expected.append(
            (
                start + index * width,
                min(values) if values else None,
                max(values) if values else None,
                sum(values) / len(values) if values else None,
                len(members),
                max(q for _, q in members),
            )
        )
    return expected


async def rolled_chunks(path: Path) -> int:
    """Check, on a connection of its own, that every rollup row equals the summary of its
    points, for every chunk up to the newest rolled one; return how many are rolled."""
    summary = (
        "SELECT chunk, series, MIN(value), MAX(value), SUM(value), COUNT(value), COUNT(*),"
        " MAX(quality) FROM point WHERE chunk <= (SELECT MAX(chunk) FROM rollup)"
        " GROUP BY chunk, series ORDER BY chunk, series"
    )
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT * FROM rollup ORDER BY chunk, series") as cursor:
            rollups = list(await cursor.fetchall())
        async with db.execute(summary) as cursor:
            assert rollups == list(await cursor.fetchall())
    return len({chunk for chunk, *_ in rollups})


def ms(t: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t)


@pytest.mark.parametrize("max_points", [1, 7, 37, 251])
@pytest.mark.parametrize(
    ("clock_after_s", "rolled"),
    # A flush rolls up the chunks that ended a chunk before the clock.
    [(0, 0), (300, 300_000 // CHUNK_MS - 1), (3600, 600_000 // CHUNK_MS)],
    ids=["no-rollups", "half-rolled-up", "all-rolled-up"],
)
async def test_downsampling_matches_a_hand_computed_reference(
    history: History, path: Path, clock: Clock, max_points: int, clock_after_s: int, rolled: int
) -> None:
    rng = random.Random(max_points)
    base = int(T0.timestamp() * 1000)
    qualities = [Quality.GOOD] * 8 + [Quality.LAST_USABLE, Quality.COMM_ERROR, Quality.WAITING]
    by_key: dict[str, list[tuple[int, float | None, Quality]]] = {"a": [], "b": []}
    # Ten minutes of irregular times (many chunks), two keys sharing the chunks.
    for key, points in by_key.items():
        for t in rng.sample(range(base, base + 600_000), 1500):
            value, quality = rng.uniform(-1e3, 1e3), rng.choice(qualities)
            points.append((t, value, quality))
            history.record([Point(key, ms(t), value, quality)])
    clock.now += clock_after_s
    await history.flush()
    assert await rolled_chunks(path) == rolled
    # Neither end on a chunk or second boundary.
    start, end = base + 12_345, base + 587_654

    result = await history.query(["a", "b"], ms(start), ms(end), max_points)

    for key, points in by_key.items():
        expected = reference(points, start, end, max_points)
        got = [
            (round(b.start.timestamp() * 1000), b.min, b.max, b.mean, b.count, b.quality)
            for b in result[key]
        ]
        assert len(got) <= max_points
        assert sum(b.count for b in result[key]) > max_points  # downsampled, not raw
        assert [g[:3] + g[4:] for g in got] == [e[:3] + e[4:] for e in expected]
        # Sums of rollups and of points add up in another order than one sum of points.
        # A bucket of Bad points only has no mean (pytest.approx refuses None).
        assert [g[3] for g in got] == [
            None if e[3] is None else pytest.approx(e[3], rel=1e-9, abs=1e-9) for e in expected
        ]


async def test_late_points_and_replacements_in_rolled_up_chunks_count(
    history: History, path: Path, clock: Clock
) -> None:
    clock.now += 3600
    history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(600))
    await history.flush()
    assert await rolled_chunks(path) == 600_000 // CHUNK_MS
    # Into chunks already rolled up: a new point, and one that replaces a stored point.
    history.record(
        [Point("k", at(100.5), 1000.0, Quality.GOOD), Point("k", at(200), -1000.0, Quality.GOOD)]
    )
    await history.flush()
    assert await rolled_chunks(path) == 600_000 // CHUNK_MS

    # Buckets of 100 s, whole chunks each: all read from rollups.
    buckets = (await history.query(["k"], at(0), at(600), max_points=6))["k"]

    assert [(b.start, b.min, b.max, b.count) for b in buckets] == [
        (at(0), 0.0, 99.0, 100),
        (at(100), 100.0, 1000.0, 101),
        (at(200), -1000.0, 299.0, 100),
        (at(300), 300.0, 399.0, 100),
        (at(400), 400.0, 499.0, 100),
        (at(500), 500.0, 599.0, 100),
    ]
    assert buckets[1].mean == pytest.approx((sum(range(100, 200)) + 1000) / 101)
    assert buckets[2].mean == pytest.approx((sum(range(201, 300)) - 1000) / 100)


async def test_raw_up_to_max_points_then_buckets(history: History) -> None:
    # Ten points a tenth of a second apart; with ten buckets over 100 s all share one.
    history.record(Point("k", at(s / 10), float(s), Quality.GOOD) for s in range(10))
    await history.flush()

    assert await history.query(["k"], at(0), at(100), max_points=10) == {
        "k": [raw(at(s / 10), float(s)) for s in range(10)]
    }
    history.record([Point("k", at(50), 100.0, Quality.GOOD)])
    await history.flush()
    assert await history.query(["k"], at(0), at(100), max_points=10) == {
        "k": [
            Bucket(at(0), 0.0, 9.0, 4.5, 10, Quality.GOOD),
            Bucket(at(50), 100.0, 100.0, 100.0, 1, Quality.GOOD),
        ]
    }


async def test_bad_quality_counts_in_quality_not_in_the_values(history: History) -> None:
    history.record(
        [
            Point("k", at(0), 1.0, Quality.GOOD),
            # A comm error carries the last value along; it is not a measurement.
            Point("k", at(1), 100.0, Quality.COMM_ERROR),
            Point("k", at(2), 3.0, Quality.LAST_USABLE),
            Point("k", at(3), None, Quality.WAITING),
            Point("k", at(4), math.nan, Quality.GOOD),
            Point("lost", at(0), 5.0, Quality.DEVICE_ERROR),
        ]
        + [Point("k", at(10 + s), 0.0, Quality.GOOD) for s in range(10)]
    )
    await history.flush()

    assert await history.query(["k", "lost"], at(0), at(20), max_points=2) == {
        "k": [
            Bucket(at(0), 1.0, 3.0, 2.0, 5, Quality.COMM_ERROR),
            Bucket(at(10), 0.0, 0.0, 0.0, 10, Quality.GOOD),
        ],
        "lost": [raw(at(0), None, Quality.DEVICE_ERROR)],
    }
    # Raw, the Bad and NaN points come back without a value, with their quality.
    assert await all_of(history, "k", at(0), at(5)) == [
        raw(at(0), 1.0),
        raw(at(1), None, Quality.COMM_ERROR),
        raw(at(2), 3.0, Quality.LAST_USABLE),
        raw(at(3), None, Quality.WAITING),
        raw(at(4), None),
    ]


async def test_strings_are_not_kept(history: History) -> None:
    history.record(
        [
            Point("d1.name", at(0), "pump A", Quality.GOOD),
            Point("d1.speed", at(0), 5, Quality.GOOD),
        ]
    )

    assert history.stats.pending == 1
    await history.flush()
    assert history.keys() == ["d1.speed"]
    assert (await history.query(["d1.name"], at(0), at(1)))["d1.name"] == []


async def test_full_buffer_drops_oldest_counts_and_logs_transitions(
    path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.store.history")
    async with History.open(path, retention_s=RETENTION_S, max_pending=5, clock=clock) as history:
        history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(4))
        history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(4, 7))
        history.record([Point("k", at(7), 7.0, Quality.GOOD)])

        assert (history.stats.dropped, history.stats.pending) == (3, 5)
        await history.flush()
        assert [b.mean for b in await all_of(history, "k", at(0), at(10))] == [3, 4, 5, 6, 7]
        history.record([Point("k", at(8), 8.0, Quality.GOOD)])
        assert (history.stats.dropped, history.stats.pending) == (3, 1)

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "history buffer full (5 points): dropping the oldest"),
        (logging.INFO, "history buffer has room again; 3 points were dropped"),
    ]


async def test_retention_deletes_whole_chunks_at_start_then_hourly(
    path: Path, clock: Clock
) -> None:
    async with History.open(
        path, retention_s=RETENTION_S, flush_interval_s=0.01, clock=clock
    ) as history:
        await check_retention(history, path, clock)


async def check_retention(history: History, path: Path, clock: Clock) -> None:
    # Two keys, every 8 s from two hours ago to now: many chunks, all rolled up.
    offsets = range(-7200, 1, 8)
    history.record(
        Point(key, at(s), float(s), Quality.GOOD) for s in offsets for key in ("a", "b")
    )
    await history.flush()

    async def stored(key: str) -> list[float | None]:
        return [b.mean for b in await all_of(history, key, at(-10_000), at(10_000))]

    def expired_before(seconds: int) -> int:
        return 2 * len([s for s in offsets if s < seconds])

    async def expiry_done(count: int) -> bool:
        # Counted when each delete commits: once it is complete, so are the deletes.
        return history.stats.expired == count

    # The cutoff falls 5 s into a chunk: the points at -3600 and -3592 are older than the
    # retention, but their chunk is not, so they stay until it is.
    clock.now += 5
    task = asyncio.create_task(history.run())
    try:
        await wait_for(lambda: expiry_done(expired_before(-3600)), "the expiry at start")
        for key in ("a", "b"):
            assert await stored(key) == [float(s) for s in offsets if s >= -3600]

        clock.now += 1800  # not due: the next expiry is an hour after the first
        # The tick that flushes the second point looked at the clock after the move; an
        # expiry it started would have deleted its first chunk before that flush.
        for second in (4, 5):
            history.record([Point("a", at(second), float(second), Quality.GOOD)])
            await wait_for(partial(has_point, history, "a", at(second)), "a flush by run()")
        assert history.stats.expired == expired_before(-3600)

        clock.now += 1800
        await wait_for(lambda: expiry_done(expired_before(0)), "the hourly expiry")
        assert await stored("a") == [0.0, 4.0, 5.0]
        assert await stored("b") == [0.0]
        # Their rollups went with them: downsampled, nothing older shows either.
        assert await rolled_chunks(path) > 0
        assert await history.query(["a"], at(-7200), at(20), max_points=2) == {
            "a": [Bucket(at(-3590), 0.0, 5.0, 3.0, 3, Quality.GOOD)]
        }
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def has_point(history: History, key: str, time: datetime) -> bool:
    points = await all_of(history, key, time, time + timedelta(milliseconds=1))
    return len(points) == 1


async def no_points(history: History, key: str) -> bool:
    return not await all_of(history, key, at(-10_000), at(10_000))


async def test_cancelling_run_flushes_pending_points(path: Path, clock: Clock) -> None:
    # An hour between flushes: only the cancel can write the points recorded below.
    async with History.open(
        path, retention_s=RETENTION_S, flush_interval_s=3600.0, clock=clock
    ) as history:
        # An expired point shows when run() is running: its start-up expiry deletes it.
        history.record([Point("k", at(-7200), 0.0, Quality.GOOD)])
        await history.flush()
        task = asyncio.create_task(history.run())
        await wait_for(lambda: no_points(history, "k"), "run() to start")
        history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(3))
        assert history.stats.pending == 3

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert (history.stats.written, history.stats.pending) == (4, 0)
        assert [b.mean for b in await all_of(history, "k", at(0), at(10))] == [0, 1, 2]


async def test_reopen_keeps_series_points_and_rollups(path: Path, clock: Clock) -> None:
    clock.now += 3600  # every chunk below is closed, so each flush rolls it up
    async with History.open(path, retention_s=RETENTION_S, clock=clock) as history:
        history.record(Point("a", at(s), float(s), Quality.GOOD) for s in range(100))
        history.record([Point("b", at(0), 2.0, Quality.GOOD)])
        await history.flush()
        # Left pending: closing writes it.
        history.record([Point("a", at(100), 100.0, Quality.GOOD)])
    assert await rolled_chunks(path) == 100_000 // CHUNK_MS + 1

    async with History.open(path, retention_s=RETENTION_S, clock=clock) as history:
        assert history.keys() == ["a", "b"]
        # A new key, and a late point in a chunk rolled up before the reopen.
        history.record(
            [Point("c", at(2), 4.0, Quality.GOOD), Point("a", at(10.5), -1.0, Quality.GOOD)]
        )
        await history.flush()
        assert await rolled_chunks(path) == 100_000 // CHUNK_MS + 1
        assert await history.query(["a", "b", "c"], at(0), at(101), max_points=2) == {
            "a": [
                Bucket(at(0), -1.0, 50.0, (sum(range(51)) - 1) / 52, 52, Quality.GOOD),
                Bucket(at(50.5), 51.0, 100.0, sum(range(51, 101)) / 50, 50, Quality.GOOD),
            ],
            "b": [raw(at(0), 2.0)],
            "c": [raw(at(2), 4.0)],
        }
    async with aiosqlite.connect(path) as db, db.execute("PRAGMA user_version") as cursor:
        assert await cursor.fetchone() == (1,)


async def test_refuses_a_file_from_a_newer_schema(path: Path) -> None:
    async with History.open(path, retention_s=RETENTION_S):
        pass
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA user_version = 2")
        await db.commit()

    with pytest.raises(NewerSchema, match="schema version 2 is newer than this gateway's 1"):
        async with History.open(path, retention_s=RETENTION_S):
            pass


async def test_cancelled_flush_caller_still_commits(history: History) -> None:
    history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(100))
    flush = asyncio.create_task(history.flush())
    await asyncio.sleep(0)  # let it take the batch and start the write
    assert history.stats.pending == 100
    flush.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flush

    async def written() -> bool:
        return history.stats.pending == 0

    await wait_for(written, "the shielded write")
    assert history.stats.written == 100
    assert len(await all_of(history, "k", at(0), at(100))) == 100


def hundreds(count: int) -> list[Bucket]:
    """Buckets of 100 s over the values 0, 1, ... count - 1, one a second from T0."""
    buckets = []
    for low in range(0, count, 100):
        high = min(low + 99, count - 1)
        mean = (low + high) / 2
        buckets.append(
            Bucket(at(low), float(low), float(high), mean, high - low + 1, Quality.GOOD)
        )
    return buckets


async def test_query_while_run_flushes_sees_whole_flushes(path: Path, clock: Clock) -> None:
    """Each query reads one snapshot: both keys, recorded together, always agree, and show
    a prefix of what was recorded that only grows, raw and downsampled alike."""
    rounds, per_round = 40, 25
    total = rounds * per_round
    # Every chunk written is closed: each flush rolls up what it wrote, and the next round
    # lands in a chunk rolled up already.
    clock.now += 2 * total
    async with History.open(
        path, retention_s=RETENTION_S, flush_interval_s=0.005, clock=clock
    ) as history:
        seen: list[int] = []

        async def query_until_complete() -> None:
            while not seen or seen[-1] < total:
                raw = await history.query(["a", "b"], at(0), at(total), max_points=total)
                a, b = ([bucket.mean for bucket in raw[key]] for key in ("a", "b"))
                assert a == b == [float(n) for n in range(len(a))]
                assert not seen or len(a) >= seen[-1]
                seen.append(len(a))
                down = await history.query(["a", "b"], at(0), at(total), max_points=10)
                assert down["a"] == down["b"]
                count = sum(bucket.count for bucket in down["a"])
                assert count >= len(a)
                if count > 10:
                    assert down["a"] == hundreds(count)

        async def pending_is_empty() -> bool:
            return history.stats.pending == 0

        run = asyncio.create_task(history.run())
        reader = asyncio.create_task(query_until_complete())
        try:
            for r in range(rounds):
                history.record(
                    Point(key, at(n), float(n), Quality.GOOD)
                    for n in range(r * per_round, (r + 1) * per_round)
                    for key in ("a", "b")
                )
                await wait_for(pending_is_empty, "run() to flush")
            await asyncio.wait_for(reader, WAIT_S)
        finally:
            reader.cancel()
            run.cancel()
            await asyncio.gather(reader, run, return_exceptions=True)
        assert await rolled_chunks(path) == total // (CHUNK_MS // 1000)

    assert seen[-1] == total
    assert any(0 < count < total for count in seen)


async def test_rejects_what_it_cannot_store(history: History, path: Path) -> None:
    naive = datetime(2027, 1, 1)  # no tzinfo: the mistake under test
    with pytest.raises(TypeError):
        history.record([Point("ok", at(0), 1.0, Quality.GOOD), Point("k", naive, 1.0, 0)])
    with pytest.raises(ValueError, match="before 1970"):
        history.record([Point("k", datetime(1969, 12, 31, tzinfo=UTC), 1.0, Quality.GOOD)])
    with pytest.raises(ValueError, match="unknown quality code 42"):
        history.record([Point("k", at(0), 1.0, 42)])
    assert history.stats.pending == 0
    with pytest.raises(ValueError, match="must be after start"):
        await history.query(["k"], at(1), at(1))
    with pytest.raises(ValueError, match="max_points"):
        await history.query(["k"], at(0), at(1), max_points=0)
    with pytest.raises(ValueError, match="retention_s"):
        async with History.open(path, retention_s=0):
            pass


class ThreadNoting(tuple[Sample, ...]):
    """A tuple of samples that notes the threads iterating it: where the work happens."""

    threads: set[str]

    def __iter__(self) -> Iterator[Sample]:
        self.threads.add(threading.current_thread().name)
        return super().__iter__()


async def test_recorded_samples_are_converted_in_the_history_thread_not_on_the_loop(
    history: History,
) -> None:
    """Issue #17: recording 15,000 samples/s on the event loop took ~23 % of a core and
    stalled it; `record_samples` only queues the published tuple, the writer connection's
    thread turns it into rows. Strings are left out, a Bad point keeps no value."""
    samples = ThreadNoting([
        Sample("boiler.flow", 12.5, Quality.GOOD, at(0)),
        Sample("boiler.burner_on", True, Quality.LAST_USABLE, at(0)),
        Sample("boiler.serial_number", "SN-001", Quality.GOOD, at(0)),
        Sample("boiler.setpoint", 3.0, Quality.COMM_ERROR, at(0.5)),
    ])
    samples.threads = set()

    history.record_samples(samples)

    assert samples.threads == set()  # nothing per point on the loop
    assert history.stats.pending == 4
    await history.flush()
    # Once, in the writer connection's thread.
    assert len(samples.threads) == 1
    assert threading.main_thread().name not in samples.threads
    result = await history.query(
        ["boiler.flow", "boiler.burner_on", "boiler.serial_number", "boiler.setpoint"],
        at(0), at(1),
    )
    assert result == {
        "boiler.flow": [raw(at(0), 12.5)],
        "boiler.burner_on": [raw(at(0), 1.0, Quality.LAST_USABLE)],
        "boiler.serial_number": [],
        "boiler.setpoint": [raw(at(0.5), None, Quality.COMM_ERROR)],
    }
    assert (history.stats.written, history.stats.pending) == (3, 0)


async def test_a_full_disk_drops_and_counts_points_and_recording_resumes(
    small_disk: SmallDisk, clock: Clock
) -> None:
    """Issue #17: on a full disk (ENOSPC, SQLITE_FULL) the history drops what it cannot
    write, counts it, reports itself degraded, never raises out of `run`, and writes
    again once space returns."""
    health = StorageHealth(small_disk.path)
    async with History.open(
        small_disk.path / "history.sqlite", retention_s=RETENTION_S, flush_interval_s=0.05,
        clock=clock, health=health,
    ) as history:
        running = asyncio.create_task(history.run())
        try:
            history.record([Point("k", at(0), 0.0, Quality.GOOD)])
            await wait_for(async_true(lambda: history.stats.written == 1), "the first point")

            small_disk.fill()
            # More than the WAL already holds: its growth needs space the disk lacks.
            history.record(Point(f"k{n}", at(1), float(n), Quality.GOOD) for n in range(20_000))
            await wait_for(async_true(lambda: history.stats.dropped == 20_000), "the drop")
            assert history.stats.degraded
            assert health.disk_full
            assert "history" in health.problems()
            assert not running.done()

            small_disk.free()
            history.record([Point("k", at(2), 2.0, Quality.GOOD)])
            await wait_for(async_true(lambda: history.stats.written == 2), "the write after")
            assert not history.stats.degraded
            assert health.problems() == {}
        finally:
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        assert [b.mean for b in await all_of(history, "k", at(0), at(10))] == [0.0, 2.0]
        assert await history.query(["k7"], at(0), at(10)) == {"k7": []}
        assert history.stats.dropped == 20_000


def async_true(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


async def test_a_flush_makes_its_rows_one_at_a_time(history: History) -> None:
    """Issue #17: a flush that held its 15,000 row tuples (and their sort keys) alive at
    once made the collector run ~40 extra young collections per flush; in scenario B those
    promoted the loop's short-lived objects until a full collection (~0.7 s with 15,000
    monitored tags) stopped the gateway every 3-4 s. Rows are made as SQLite takes them."""
    keys = [f"d{n // 30:03d}.t{n % 30:02d}" for n in range(15_000)]
    history.record_samples(tuple(Sample(k, 1.0, Quality.GOOD, at(0)) for k in keys))
    await history.flush()  # the first flush also numbers the series
    history.record_samples(tuple(Sample(k, 2.0, Quality.GOOD, at(1)) for k in keys))

    before = sum(generation["collections"] for generation in gc.get_stats())
    await history.flush()
    collections = sum(generation["collections"] for generation in gc.get_stats()) - before

    assert collections < 10, collections
    assert history.stats.written == 30_000


async def test_a_flush_longer_than_a_group_keeps_the_last_point_strings_and_rollups(
    history: History, path: Path, clock: Clock
) -> None:
    """Issue #17: a flush goes to SQLite `GROUP` rows per INSERT, the rows left over one by
    one. Across those boundaries the last recorded point of a key and millisecond is the
    one kept, strings are left out, late points re-roll their chunks, all are counted."""
    clock.now += 3600
    # One batch of `record` longer than a group.
    history.record(Point("k", at(s), float(s), Quality.GOOD) for s in range(600))
    await history.flush()
    others = [
        Sample(f"s{n}", "text" if n % 10 == 0 else float(n), Quality.GOOD, at(650))
        for n in range(GROUP * 2)
    ]
    # 183 rows: the first group holds the first point at 100.5 s and the replacement at
    # 200 s (both in rolled-up chunks), the rows left over the second point at 100.5 s.
    history.record_samples((
        Sample("k", 5000.0, Quality.GOOD, at(100.5)),
        *others[:GROUP],
        Sample("k", -1.0, Quality.GOOD, at(200)),
        *others[GROUP:],
        Sample("k", 7000.0, Quality.GOOD, at(100.5)),
    ))

    await history.flush()

    assert history.stats.written == 600 + 183
    assert await all_of(history, "k", at(100), at(101)) == [
        raw(at(100), 100.0),
        raw(at(100.5), 7000.0),
    ]
    assert await all_of(history, "k", at(200), at(201)) == [raw(at(200), -1.0)]
    assert await rolled_chunks(path) == 600_000 // CHUNK_MS + 1  # exact, with 650 s's
    keys = history.keys()
    assert len(keys) == 1 + 180
    assert "s10" not in keys
    assert await all_of(history, "s199", at(0), at(700)) == [raw(at(650), 199.0)]
