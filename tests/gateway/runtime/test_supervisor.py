"""Background tasks kept running (issue #17): restarted with backoff, logged once, working
again after a healthy spell, and never kept from being cancelled."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.runtime.supervisor import Supervisor
from tests.fixtures.modbus import wait_until

WAIT_S = 5.0


class Task:
    """Fails its first `failures` runs, then runs until cancelled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts = 0

    async def __call__(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError(f"failure {self.starts}")
        await asyncio.Event().wait()


async def test_a_failing_task_is_restarted_logged_once_and_healthy_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.runtime.supervisor")
    supervisor = Supervisor(backoff_initial_s=0.01, backoff_max_s=0.05, healthy_after_s=0.3)
    task = Task(failures=3)
    running = asyncio.create_task(supervisor.keep_running("job", task))
    try:
        await wait_until(lambda: task.starts == 4, WAIT_S, "the fourth start")
        assert supervisor.failures.failing() == {"job": "RuntimeError: failure 3"}
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1  # once, not once per restart
        assert errors[0].getMessage().startswith(
            "task job failed: RuntimeError: failure 1; restarting it in "
        )
        assert errors[0].exc_info is not None
        await wait_until(lambda: not supervisor.failures.failing(), WAIT_S, "healthy again")
        assert "task job works again (3 failures since the start)" in caplog.text
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):  # cancellation is never contained
            await running


async def test_a_task_that_returns_is_not_restarted() -> None:
    starts = 0

    async def once() -> None:
        nonlocal starts
        starts += 1

    await asyncio.wait_for(Supervisor().keep_running("once", once), WAIT_S)
    assert starts == 1
