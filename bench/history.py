"""Tag history benchmark (issue #5): sustained recording at the gateway's scenario B rate,
retention under that load, and a downsampled query of one key over 7 days of 1 Hz data.

Run by hand; prints a table and one JSON line (definitions in bench/README.md):

    python bench/history.py                          # both phases
    python bench/history.py --phase record --duration 120
    python bench/history.py --phase query --query-keys 30

The file lives in a temporary folder, removed at the end (`--keep-files` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from report import Target, percentile

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.store import History, Point

logger = logging.getLogger("bench.history")

TICK_S = 0.01  # the load's step; each device records all its tags once per second
SETTLED_S = 3.0  # expiry is over when the expired count stood still this long
DAY_S = 86_400


@dataclass
class Figures:
    """What one run measured; None for a phase that did not run."""

    devices: int
    tags_per_device: int
    flush_interval_s: float
    # Recording (phase "record").
    window_s: float | None = None
    points_per_s: float | None = None
    first_flush_ms: float | None = None
    flush_p50_ms: float | None = None
    flush_p99_ms: float | None = None
    flush_max_ms: float | None = None
    record_us_per_point: float | None = None
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None
    cpu_pct: float | None = None
    store_cpu_pct: float | None = None
    disk_write_mb_per_s: float | None = None
    file_growth_mb_per_s: float | None = None
    dropped: int | None = None
    expired_points: int | None = None
    expiry_s: float | None = None
    commit_gap_max_s: float | None = None
    # Query (phase "query").
    query_keys: int | None = None
    query_days: int | None = None
    build_points_per_s: float | None = None
    file_mb: float | None = None
    query_first_ms: float | None = None
    query_p50_ms: float | None = None
    query_max_ms: float | None = None
    query_all_keys_ms: float | None = None
    query_hour_ms: float | None = None
    query_raw_ms: float | None = None
    verdicts: dict[str, bool] = field(default_factory=dict)

    def judge(self, targets: Sequence[Target]) -> None:
        """Fill `verdicts` for the targets whose metric this run measured."""
        self.verdicts = {
            t.metric: t.met(getattr(self, t.metric))
            for t in targets
            if getattr(self, t.metric) is not None
        }

    def as_json(self) -> str:
        return json.dumps({"bench": "uvelka-history", **asdict(self)})


def targets(args: argparse.Namespace) -> list[Target]:
    return [
        # "Well under the flush interval": a quarter of it at most, even the slowest.
        Target("flush_p99_ms", args.flush_interval * 1000 / 4),
        Target("points_per_s", 0.99 * args.devices * args.tags, at_most=False),
        Target("dropped", 0),
        Target("query_p50_ms", 200.0),
    ]


class Load:
    """Scenario B's sinks: every device publishes its tags once a second, the devices
    spread evenly over the second, stamped with the current time, all Good."""

    def __init__(self, history: History, devices: int, tags: int) -> None:
        self._history = history
        self._keys = [[f"d{d:03d}.t{t:04d}" for t in range(tags)] for d in range(devices)]
        self.recorded = 0
        self.record_s = 0.0
        self.lags_s: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ticks_per_s = round(1.0 / TICK_S)
        deadline = loop.time()
        tick = 0
        while True:
            deadline += TICK_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            # How late the loop woke this task: what the store adds to every loop's latency.
            self.lags_s.append(loop.time() - deadline)
            now = datetime.now(UTC)
            for device in range(tick % ticks_per_s, len(self._keys), ticks_per_s):
                # What a poll loop publishes, recorded as the gateway records it.
                samples = tuple(
                    Sample(k, float(tick), Quality.GOOD, now) for k in self._keys[device]
                )
                started = time.perf_counter()
                self._history.record_samples(samples)
                self.record_s += time.perf_counter() - started
                self.recorded += len(samples)
            tick += 1


@dataclass(frozen=True)
class Counters:
    """Cumulative counters read at the start and at the end of the window."""

    wall_s: float
    cpu_s: float
    store_cpu_s: float
    recorded: int
    record_s: float
    flushes: int
    lags: int
    disk_write_bytes: int
    file_bytes: int

    @classmethod
    def read(cls, load: Load, flushes: list[float], history: History) -> Counters:
        return cls(
            time.perf_counter(),
            time.process_time(),
            _store_threads_cpu_s(),
            load.recorded,
            load.record_s,
            len(flushes),
            len(load.lags_s),
            psutil.Process().io_counters().write_bytes,
            history.stats.file_bytes,
        )


def _store_threads_cpu_s() -> float:
    """CPU seconds of the store's own threads (aiosqlite's: the writer's makes the rows
    and runs SQLite), i.e. of every thread but the event loop's."""
    main = threading.main_thread().native_id
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id != main)


async def flush_periodically(history: History, interval_s: float, spans_s: list[float]) -> None:
    """What `History.run` does between expiries, with each flush timed."""
    while True:
        await asyncio.sleep(interval_s)
        started = time.perf_counter()
        await history.flush()
        spans_s.append(time.perf_counter() - started)


async def commit_gaps(history: History, gaps_s: list[float]) -> None:
    """Time between successive commits (stats.written growing), polled every 5 ms."""
    last, since = history.stats.written, time.perf_counter()
    while True:
        await asyncio.sleep(0.005)
        if (current := history.stats.written) != last:
            now = time.perf_counter()
            gaps_s.append(now - since)
            last, since = current, now


async def settled(value: Callable[[], int]) -> tuple[int, float]:
    """Wait until `value` grew and then stood still for SETTLED_S; returns it and when
    (perf_counter) it last changed."""
    last, since = value(), time.perf_counter()
    while last == 0 or time.perf_counter() - since < SETTLED_S:
        await asyncio.sleep(0.01)
        if (current := value()) != last:
            last, since = current, time.perf_counter()
    return last, since


async def measure_recording(args: argparse.Namespace, path: Path, figures: Figures) -> None:
    recorded_s = args.warmup + args.duration
    # Nothing expires while recording; then the clock jumps so that the older half does.
    shift_s = 0.0
    retention_s = recorded_s + 60.0
    async with History.open(
        path,
        retention_s=retention_s,
        flush_interval_s=args.flush_interval,
        clock=lambda: time.time() + shift_s,
    ) as history:
        load = Load(history, args.devices, args.tags)
        # As `uvelka run` does once started: what lives as long as the process stays out of
        # the collector's full passes (gateway/app.py).
        gc.freeze()
        flushes: list[float] = []
        gaps: list[float] = []
        async with asyncio.TaskGroup() as tasks:
            loading = tasks.create_task(load.run())
            flushing = tasks.create_task(flush_periodically(history, args.flush_interval, flushes))
            logger.info("recording %d keys at 1 Hz, %.0f s warm-up", args.devices * args.tags,
                        args.warmup)
            await asyncio.sleep(args.warmup)
            start = Counters.read(load, flushes, history)
            logger.info("measuring %.0f s", args.duration)
            await asyncio.sleep(args.duration)
            end = Counters.read(load, flushes, history)
            flushing.cancel()
            _recording_figures(figures, start, end, load, flushes, history.stats.dropped)

            shift_s = retention_s - recorded_s / 2
            logger.info("run(): expiring the older half under load")
            watching = tasks.create_task(commit_gaps(history, gaps))
            started = time.perf_counter()
            running = tasks.create_task(history.run())
            expired, done = await settled(lambda: history.stats.expired)
            figures.expired_points = expired
            figures.expiry_s = done - started
            figures.commit_gap_max_s = max(gaps) if gaps else None
            for task in (watching, running, loading):
                task.cancel()


def _recording_figures(
    figures: Figures, start: Counters, end: Counters, load: Load, flushes: list[float],
    dropped: int,
) -> None:
    window_s = end.wall_s - start.wall_s
    recorded = end.recorded - start.recorded
    flush_ms = [s * 1000 for s in flushes[start.flushes : end.flushes]]
    lag_ms = [s * 1000 for s in load.lags_s[start.lags : end.lags]]
    figures.window_s = window_s
    figures.points_per_s = recorded / window_s
    figures.first_flush_ms = flushes[0] * 1000
    figures.flush_p50_ms = percentile(flush_ms, 50)
    figures.flush_p99_ms = percentile(flush_ms, 99)
    figures.flush_max_ms = max(flush_ms)
    figures.record_us_per_point = (end.record_s - start.record_s) / recorded * 1e6
    figures.loop_lag_p99_ms = percentile(lag_ms, 99)
    figures.loop_lag_max_ms = max(lag_ms)
    figures.cpu_pct = (end.cpu_s - start.cpu_s) / window_s * 100
    figures.store_cpu_pct = (end.store_cpu_s - start.store_cpu_s) / window_s * 100
    figures.disk_write_mb_per_s = (end.disk_write_bytes - start.disk_write_bytes) / window_s / 1e6
    figures.file_growth_mb_per_s = (end.file_bytes - start.file_bytes) / window_s / 1e6
    figures.dropped = dropped


async def measure_query(args: argparse.Namespace, path: Path, figures: Figures) -> None:
    keys = [f"q{n:03d}.signal" for n in range(args.query_keys)]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=args.query_days)
    retention_s = (args.query_days + 1) * DAY_S
    async with History.open(path, retention_s=retention_s) as history:
        logger.info("building %d keys x %d days at 1 Hz", len(keys), args.query_days)
        figures.build_points_per_s = await _build(history, keys, start, args.query_days, args.seed)
    # Reopened: a fresh connection, as after a restart (the OS page cache stays warm).
    async with History.open(path, retention_s=retention_s) as history:
        figures.file_mb = history.stats.file_bytes / 1e6

        async def one_week() -> None:
            buckets = (await history.query(keys[:1], start, end, 1000))[keys[0]]
            assert len(buckets) == 1000, len(buckets)
            assert sum(b.count for b in buckets) == args.query_days * DAY_S

        times_ms = [await _timed(one_week()) for _ in range(args.query_repeats)]
        figures.query_first_ms = times_ms[0]
        figures.query_p50_ms = statistics.median(times_ms)
        figures.query_max_ms = max(times_ms)
        figures.query_all_keys_ms = await _timed(history.query(keys, start, end, 1000))
        hour = end - timedelta(hours=1)
        figures.query_hour_ms = await _timed(history.query(keys[:1], hour, end, 1000))
        # 600 points at most 1000: the raw path.
        ten_minutes = end - timedelta(minutes=10)
        figures.query_raw_ms = await _timed(history.query(keys[:1], ten_minutes, end, 1000))
    figures.query_keys = len(keys)
    figures.query_days = args.query_days


async def _build(
    history: History, keys: list[str], start: datetime, days: int, seed: int
) -> float:
    """Record 1 Hz data of every key, one hour per flush; returns points per second."""
    rng = random.Random(seed)
    started = time.perf_counter()
    total = 0
    for hour in range(days * 24):
        base = start + timedelta(hours=hour)
        for n, k in enumerate(keys):
            history.record(
                Point(
                    k,
                    base + timedelta(seconds=s),
                    math.sin((hour * 3600 + s) / 3600 + n) + rng.random() / 10,
                    Quality.COMM_ERROR if rng.random() < 0.001 else Quality.GOOD,
                )
                for s in range(3600)
            )
        total += await history.flush()
    return total / (time.perf_counter() - started)


async def _timed(operation: Awaitable[object]) -> float:
    started = time.perf_counter()
    await operation
    return (time.perf_counter() - started) * 1000


def table(figures: Figures, judged: Sequence[Target]) -> str:
    limits = {t.metric: t for t in judged}
    lines = []
    for name, value in asdict(figures).items():
        if name == "verdicts" or value is None:
            continue
        text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        if name in figures.verdicts:
            verdict = "met" if figures.verdicts[name] else "MISSED"
            text += f"   (target {limits[name]}: {verdict})"
        lines.append(f"{name:<24} {text}")
    return "\n".join(lines)


async def _bench(args: argparse.Namespace, work_dir: Path) -> int:
    figures = Figures(args.devices, args.tags, args.flush_interval)
    if args.phase in ("all", "record"):
        await measure_recording(args, work_dir / "record" / "history.db", figures)
    if args.phase in ("all", "query"):
        await measure_query(args, work_dir / "query" / "history.db", figures)
    judged = targets(args)
    figures.judge(judged)
    print(table(figures, judged))
    print(figures.as_json())
    return 0 if all(figures.verdicts.values()) else 1


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("all", "record", "query"), default="all")
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--tags", type=int, default=30, help="per device")
    parser.add_argument("--flush-interval", type=float, default=1.0, help="s")
    parser.add_argument("--warmup", type=float, default=5.0, help="s")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s")
    parser.add_argument("--query-keys", type=int, default=10, help="keys in the 7-day file")
    parser.add_argument("--query-days", type=int, default=7)
    parser.add_argument("--query-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-files", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-bench-history-"))
    try:
        return asyncio.run(_bench(args, work_dir))
    except KeyboardInterrupt:
        logger.warning("interrupted")
        return 130
    finally:
        if args.keep_files:
            logger.info("files kept in %s", work_dir)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
