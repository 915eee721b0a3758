"""Training jobs (issue #12): `uvelka train --history` in a bounded child process, one at a
time; done with its candidate, cancelled, failed when the child is SIGKILLed, interrupted
by a restart. The history is recorded by the test through the real History store."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from analytics.inference import Model
from gateway.page.training_jobs import JobRequest, TrainingJobs
from tests.fixtures.assets import CENTRE
from tests.fixtures.modbus import wait_until
from tests.gateway.test_history_training import SECONDS, T0, record_history

INPUTS = {name: f"pump1.{name}" for name in CENTRE}


def request(seconds: int = SECONDS) -> JobRequest:
    return JobRequest(
        "pump1",
        "anomaly",
        INPUTS,
        1.0,
        T0.isoformat(),
        (T0 + timedelta(seconds=seconds)).isoformat(),
    )


@pytest.fixture
async def jobs(tmp_path: Path) -> AsyncIterator[TrainingJobs]:
    await asyncio.to_thread(record_history, tmp_path)
    jobs = TrainingJobs.open(tmp_path / "training", tmp_path)
    task = asyncio.create_task(jobs.run())
    yield jobs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_job_trains_a_candidate_and_queues_the_next(jobs: TrainingJobs) -> None:
    first = jobs.submit(request(), "engineer")
    second = jobs.submit(request(300), "engineer")  # too little data: fails with why
    assert jobs.get(second.id).state == "queued"
    await wait_until(
        lambda: jobs.get(second.id).state not in ("queued", "running"), 120, "both jobs to end"
    )
    done = jobs.get(first.id)
    assert done.state == "done"
    model = Model.load(Path(done.result["out"]))
    assert model.manifest.recipe.params["history"]["asset"] == "pump1"
    assert 0 <= done.result["validation"]["false_alarm_rate"] <= 1
    failed = jobs.get(second.id)
    assert failed.state == "failed"
    assert "too little Good data" in failed.reason


async def test_a_killed_child_fails_its_job_with_the_reason(jobs: TrainingJobs) -> None:
    job = jobs.submit(request(), "engineer")
    await wait_until(lambda: jobs.child_pid() is not None, 30, "the child to start")
    pid = jobs.child_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: jobs.get(job.id).state == "failed", 30, "the job to fail")
    assert "SIGKILL" in jobs.get(job.id).reason


async def test_a_running_job_is_cancelled(jobs: TrainingJobs) -> None:
    job = jobs.submit(request(), "engineer")
    await wait_until(lambda: jobs.child_pid() is not None, 30, "the child to start")
    queued = jobs.submit(request(), "engineer")  # behind the running one
    assert jobs.cancel(queued.id).reason == "cancelled before it ran"
    jobs.cancel(job.id)
    await wait_until(lambda: jobs.get(job.id).state == "cancelled", 30, "the cancel")
    assert jobs.get(job.id).reason == "cancelled while it ran"
    assert jobs.get(queued.id).state == "cancelled"  # never started after the first


async def test_a_restart_marks_a_running_job_interrupted(tmp_path: Path) -> None:
    await asyncio.to_thread(record_history, tmp_path)
    jobs = TrainingJobs.open(tmp_path / "training", tmp_path)
    task = asyncio.create_task(jobs.run())
    job = jobs.submit(request(), "engineer")
    await wait_until(lambda: jobs.child_pid() is not None, 30, "the child to start")
    task.cancel()  # the gateway stops: its child is ended with it
    with pytest.raises(asyncio.CancelledError):
        await task
    again = TrainingJobs.open(tmp_path / "training", tmp_path)
    assert again.get(job.id).state == "interrupted"
    assert "stopped while the job was running" in again.get(job.id).reason
