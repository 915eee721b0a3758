"""Poll latency and missed cycles while a training job runs (issue #12).

Run by hand from the repository root; prints a table and one JSON line:

    python bench/training_job.py                 # scenario A, 60 s each, with and without
    python bench/training_job.py --duration 30

Two runs of bench/poll.py's scenario A (10 devices x 1000 tags, 10 % change/s, history
on), each a fresh gateway process: the first as poll.py measures it, the second while the
gateway's data_dir holds one day of 1 Hz history of an asset's three inputs and training
jobs on that day run back to back through the whole window. The jobs are the gateway's own
(gateway.page.training_jobs.TrainingJobs: the same child process `uvelka train anomaly
--history ... --progress-json`, bounded and at a lowered priority), worked from this
process's event loop: the gateway's share of a job is reading a few JSON lines, the
child's is CPU and the history file, which is what the gateway's poll loops compete with.
Targets: the latency p99 with the job at most 10 ms above the one without, and no missed
poll cycles (bench/README.md, "Training job").
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from children import exit_code_of
from poll import Bench, Options, _parse
from report import Figures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.core.quality import Quality  # noqa: E402 - after the project root is on sys.path
from gateway.page.training_jobs import JobRequest, TrainingJobs  # noqa: E402
from gateway.store import History, Point  # noqa: E402
from gateway.store.history_export import FILE_NAME  # noqa: E402

logger = logging.getLogger("bench.training_job")

CENTRE = {"flow": 50.0, "pressure": 4.0, "temperature": 60.0}
DAY_S = 86_400
P99_GROWTH_MS = 10.0  # issue #12's target
BATCH_S = 3600  # seconds of history written per call while seeding


def seed_history(data_dir: Path, end: datetime) -> tuple[datetime, datetime]:
    """One day of 1 Hz history of pump1's inputs, ending at `end`, as a gateway records
    them (noise around CENTRE, Good)."""
    start = end - timedelta(seconds=DAY_S)
    rng = np.random.default_rng(7)

    async def write() -> None:
        async with History.open(data_dir / FILE_NAME, retention_s=7 * DAY_S) as history:
            for hour in range(0, DAY_S, BATCH_S):
                points = [
                    Point(f"pump1.{name}", start + timedelta(seconds=n), value, Quality.GOOD)
                    for n in range(hour, hour + BATCH_S)
                    for name, value in zip(
                        CENTRE,
                        np.array(list(CENTRE.values())) * (1 + 0.01 * rng.standard_normal(3)),
                        strict=True,
                    )
                ]
                history.record(points)
                await history.flush()

    asyncio.run(write())
    return start, end


@dataclass
class JobLog:
    """The jobs run during the window: how many were done, why others failed, and each
    one's seconds."""

    done: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


class TrainingBench(Bench):
    """poll.py's run, with training jobs back to back through its measuring window."""

    def __init__(self, options: Options, work_dir: Path, span: tuple[datetime, datetime]) -> None:
        super().__init__(options, work_dir)
        self.span = span
        self.log = JobLog()

    async def _measure(self, gateway, revised_ms, startup):  # type: ignore[no-untyped-def]
        data_dir = self.work_dir / "data"
        jobs = TrainingJobs.open(self.work_dir / "training", data_dir)
        worker = asyncio.create_task(jobs.run())
        feeder = asyncio.create_task(self._feed(jobs))
        try:
            return await super()._measure(gateway, revised_ms, startup)
        finally:
            feeder.cancel()
            worker.cancel()
            await asyncio.gather(feeder, worker, return_exceptions=True)

    async def _feed(self, jobs: TrainingJobs) -> None:
        """One job at a time, the next as soon as one ends."""
        start, end = self.span
        request = JobRequest(
            "pump1",
            "anomaly",
            {name: f"pump1.{name}" for name in CENTRE},
            1.0,
            start.isoformat(),
            end.isoformat(),
        )
        while True:
            began = time.monotonic()
            job = jobs.submit(request, "bench")
            # TrainingJobs offers no event to wait on: polled, as the page polls it.
            while jobs.get(job.id).state in ("queued", "running"):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            ended = jobs.get(job.id)
            self.log.seconds.append(time.monotonic() - began)
            if ended.state == "done":
                self.log.done += 1
            else:
                self.log.failed.append(ended.reason)
            logger.info(
                "training job %d %s in %.1f s %s",
                job.id,
                ended.state,
                time.monotonic() - began,
                ended.reason,
            )


def _one_run(options: Options, with_job: bool) -> tuple[Figures, JobLog | None]:
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-bench-training-"))
    if with_job:
        (work_dir / "data").mkdir()
        span = seed_history(work_dir / "data", datetime.now(UTC) - timedelta(minutes=5))
        bench: Bench = TrainingBench(options, work_dir, span)
    else:
        bench = Bench(options, work_dir)
    result: list[Figures] = []

    async def run() -> int:
        try:
            result.append(await bench.run())
        finally:
            await bench.children.aclose()
        return 0

    def cleanup(finished: bool) -> None:
        bench.children.kill_all()
        shutil.rmtree(work_dir, ignore_errors=True)

    exit_code_of(run(), cleanup)
    return result[0], (bench.log if isinstance(bench, TrainingBench) else None)


def main() -> int:
    options, _ = _parse(["--scenario", "A", *sys.argv[1:]])
    load_before = os.getloadavg()
    without, _ = _one_run(options, with_job=False)
    with_job, jobs = _one_run(options, with_job=True)
    load_after = os.getloadavg()
    assert jobs is not None
    rows = [
        ("latency p50 ms", without.latency_p50_ms, with_job.latency_p50_ms),
        ("latency p99 ms", without.latency_p99_ms, with_job.latency_p99_ms),
        ("latency max ms", without.latency_max_ms, with_job.latency_max_ms),
        ("missed cycles %", without.missed_cycles_pct, with_job.missed_cycles_pct),
        ("gateway CPU %", without.cpu_pct, with_job.cpu_pct),
        ("poll cycles/s", without.poll_cycles_per_s, with_job.poll_cycles_per_s),
    ]
    print(
        f"scenario A, window {without.window_s:.0f} / {with_job.window_s:.0f} s; load average"
        f" {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"{'':18}{'without job':>14}{'with job':>14}")
    for name, a, b in rows:
        print(f"{name:18}{_text(a):>14}{_text(b):>14}")
    print(
        f"training jobs in the window: {jobs.done} done, {len(jobs.failed)} failed,"
        f" {np.mean(jobs.seconds) if jobs.seconds else float('nan'):.1f} s each"
    )
    growth = None
    if without.latency_p99_ms is not None and with_job.latency_p99_ms is not None:
        growth = with_job.latency_p99_ms - without.latency_p99_ms
    missed = _missed_cycles(with_job)
    met = growth is not None and growth <= P99_GROWTH_MS and missed == 0 and jobs.done > 0
    print(
        f"p99 growth {_text(growth)} ms (target <= {P99_GROWTH_MS:g}), missed cycles"
        f" {missed} of {_cycles(with_job):.0f} (without the job {_missed_cycles(without)};"
        f" target 0): {'met' if met else 'NOT met'}"
    )
    print(
        json.dumps(
            {
                "bench": "uvelka-training-job",
                "p99_growth_ms": growth,
                "missed_cycles": missed,
                "jobs_done": jobs.done,
                "jobs_failed": jobs.failed,
                "job_s": jobs.seconds,
                "load_before": load_before,
                "load_after": load_after,
                "without": asdict(without),
                "with_job": asdict(with_job),
            }
        )
    )
    return 0 if met else 1


def _cycles(figures: Figures) -> float:
    """The poll cycles the window should hold: every device once per interval."""
    return figures.devices * figures.window_s / figures.poll_interval_s


def _missed_cycles(figures: Figures) -> int:
    """Whole cycles missed: poll.py's missed share of the window's cycles, rounded (the
    share comes from two readings of the devices' PollCount, a fraction of a cycle apart
    even when none was missed)."""
    return round((figures.missed_cycles_pct or 0.0) / 100.0 * _cycles(figures))


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
