"""A sink of the alarm hub that keeps failing is logged once, counted, shown as failing, and
the other sinks get every event (issue #17)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.alarms import AlarmEvent
from gateway.alarms.hub import AlarmHub
from gateway.alarms.recent import RecentEvents
from gateway.alarms.saved import AlarmStateFile
from tests.fixtures.modbus import wait_until
from tests.gateway.alarms.test_hub import T0, TIMEOUT_S, Collector, WallClock, sample, tag_alarm


class FlakySink:
    """Fails while `broken`, with the same error each time."""

    def __init__(self) -> None:
        self.broken = True
        self.events: list[AlarmEvent] = []

    async def __call__(self, events: Sequence[AlarmEvent]) -> None:
        if self.broken:
            raise RuntimeError("a bug in the sink")
        self.events += events


async def test_a_sink_that_keeps_failing_is_logged_once_and_the_others_get_every_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.alarms.hub")
    hub = AlarmHub([tag_alarm()], AlarmStateFile(tmp_path / "alarms.json"), WallClock())
    flaky, recent, sink = FlakySink(), RecentEvents(), Collector()
    task = asyncio.create_task(hub.run([flaky, recent, sink]))
    try:
        for n, value in enumerate([85.0, 70.0, 85.0]):  # active, back to normal, active
            hub.observe_samples([sample(value, T0 + timedelta(seconds=n))])
            await sink.wait_for(n + 1)
        await wait_until(lambda: sum(hub.sink_failures.values()) == 3, TIMEOUT_S, "3 failures")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1  # once, with its traceback, not once per delivery
        assert errors[0].exc_info is not None
        assert "1 alarm events not delivered" in errors[0].getMessage()
        assert len(recent.newest()) == 3
        assert set(hub.sink_failures) == {"FlakySink"}  # named by its class, not a repr
        assert hub.sink_health.failing() == {"FlakySink": "RuntimeError: a bug in the sink"}

        flaky.broken = False
        hub.observe_samples([sample(70.0, T0 + timedelta(seconds=9))])
        await sink.wait_for(4)
        await wait_until(lambda: len(flaky.events) == 1, TIMEOUT_S, "the sink working again")
        assert hub.sink_health.failing() == {}
        assert any("works again" in r.getMessage() for r in caplog.records)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
