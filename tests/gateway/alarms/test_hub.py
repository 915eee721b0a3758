"""The alarm hub: samples and scores in, ordered events out to every sink, state saved."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.alarms import (
    Alarm,
    AlarmEvent,
    AlarmRule,
    AlarmState,
    Condition,
    EventKind,
    StaleEventId,
)
from gateway.alarms.configured import WatchedAlarm
from gateway.alarms.hub import AlarmHub
from gateway.alarms.saved import AlarmStateFile
from gateway.config.sources import Source, SourceKind
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.score import Score
from tests.fixtures.modbus import wait_until

T0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
TIMEOUT_S = 5.0


class WallClock:
    """Wall time the test moves by hand; the hub schedules on the event loop's own time."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return (self.at - T0).total_seconds()


class Collector:
    """A sink that keeps what it gets and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[AlarmEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, events: Sequence[AlarmEvent]) -> None:
        async with self._changed:
            self.events += events
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[AlarmEvent]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.events) >= count), TIMEOUT_S
            )
        return self.events


def tag_alarm(name: str = "hot", **rule: object) -> WatchedAlarm:
    defaults: dict[str, object] = {"condition": Condition.ABOVE, "limit": 80.0}
    return WatchedAlarm(
        AlarmRule(name, "pump1.temperature", **(defaults | rule)),  # type: ignore[arg-type]
        Source(SourceKind.TAG, "pump1", "temperature"),
    )


def sample(value: float, at: datetime, quality: Quality = Quality.GOOD) -> Sample:
    return Sample("pump1.temperature", value, quality, at)


@asynccontextmanager
async def running(hub: AlarmHub, *sinks: Collector) -> AsyncIterator[None]:
    task = asyncio.create_task(hub.run(sinks))
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
def state_file(tmp_path: Path) -> AlarmStateFile:
    return AlarmStateFile(tmp_path / "alarms.json")


async def test_a_transition_reaches_every_sink_and_the_state_is_saved(
    state_file: AlarmStateFile,
) -> None:
    hub = AlarmHub([tag_alarm()], state_file, WallClock())
    opcua, mqtt = Collector(), Collector()
    async with running(hub, opcua, mqtt):
        hub.observe_samples([sample(70.0, T0), sample(85.0, T0 + timedelta(seconds=1))])
        (event,) = await opcua.wait_for(1)
        assert (await mqtt.wait_for(1))[0] is event
        assert event.kind is EventKind.ACTIVATED
        assert event.time == T0 + timedelta(seconds=1)
        assert event.value == 85.0
        await wait_until(state_file.path.exists, TIMEOUT_S, "the state file")
    saved = json.loads(state_file.path.read_text(encoding="utf-8"))
    assert saved["alarms"]["hot"]["active"] is True
    assert saved["alarms"]["hot"]["last_event"]["id"] == str(event.id)


async def test_state_and_latest_event_survive_a_restart(state_file: AlarmStateFile) -> None:
    clock = WallClock()
    hub = AlarmHub([tag_alarm()], state_file, clock)
    sink = Collector()
    async with running(hub, sink):
        hub.observe_samples([sample(90.0, T0)])
        (activated,) = await sink.wait_for(1)
        await wait_until(state_file.path.exists, TIMEOUT_S, "the state file")

    again = AlarmHub([tag_alarm()], state_file, clock)
    assert again.alarms["hot"].state is AlarmState.ACTIVE_UNACKED
    assert again.retained() == [activated]
    with pytest.raises(StaleEventId):
        again.acknowledge("hot", "op", "", event_id=activated.id.__class__(int=1))
    acked = again.acknowledge("hot", "op", "checked the bearing", event_id=activated.id)
    assert (acked.acked, acked.user, acked.comment) == (True, "op", "checked the bearing")


async def test_on_delay_completes_without_a_new_sample(state_file: AlarmStateFile) -> None:
    # The poll loop publishes changes only: a value that stays above the limit is seen once.
    clock = WallClock()
    hub = AlarmHub([tag_alarm(on_delay_s=10.0)], state_file, clock, tick_s=0.02)
    sink = Collector()
    async with running(hub, sink):
        hub.observe_samples([sample(85.0, T0)])
        clock.at = T0 + timedelta(seconds=9)
        seen = hub.looks + 3
        await wait_until(lambda: hub.looks >= seen, TIMEOUT_S, "3 looks")  # nothing happens
        assert sink.events == []
        clock.at = T0 + timedelta(seconds=10)
        (event,) = await sink.wait_for(1)
    assert event.kind is EventKind.ACTIVATED
    assert event.time == T0 + timedelta(seconds=10)


async def test_a_restored_value_is_not_taken_for_a_fresh_one(state_file: AlarmStateFile) -> None:
    watched = tag_alarm(on_delay_s=5.0)
    before = Alarm(watched.rule)
    assert before.observe(85.0, Quality.GOOD, T0) == []  # pending when the gateway stopped
    state_file.save({"hot": before.to_dict()})

    clock = WallClock()
    clock.at = T0 + timedelta(hours=1)
    again = AlarmHub([watched], state_file, clock, tick_s=0.02)
    sink = Collector()
    async with running(again, sink):
        # Many looks, yet the restored 85.0 was not seen anew: nothing happens.
        await wait_until(lambda: again.looks >= 3, TIMEOUT_S, "3 looks")
        assert sink.events == []
        again.observe_samples([sample(85.0, clock.at)])
        clock.at += timedelta(seconds=5)
        (event,) = await sink.wait_for(1)
    assert event.kind is EventKind.ACTIVATED


async def test_scores_feed_the_asset_output_alarms(state_file: AlarmStateFile) -> None:
    watched = [
        WatchedAlarm(AlarmRule("pump1_anomaly", "pump1.Anomaly", Condition.TRUE),
                     Source(SourceKind.ASSET, "pump1", "Anomaly")),
        WatchedAlarm(AlarmRule("pump1_score", "pump1.AnomalyScore", Condition.ABOVE, limit=0.8),
                     Source(SourceKind.ASSET, "pump1", "AnomalyScore")),
        WatchedAlarm(AlarmRule("pump1_rul", "pump1.RemainingUsefulLife", Condition.BELOW,
                               limit=100.0),
                     Source(SourceKind.ASSET, "pump1", "RemainingUsefulLife")),
    ]
    hub = AlarmHub(watched, state_file, WallClock())
    sink = Collector()

    def score(kind: str, value: float | None, anomaly: bool | None, quality: Quality) -> Score:
        return Score("pump1", kind, value, anomaly, quality, T0, T0, "v1")

    async with running(hub, sink):
        hub.observe_scores([score("anomaly", 0.9, True, Quality.GOOD),
                            score("rul", 50.0, None, Quality.LAST_USABLE)])
        events = await sink.wait_for(3)
        assert {event.alarm for event in events} == {"pump1_anomaly", "pump1_score", "pump1_rul"}
        assert all(event.kind is EventKind.ACTIVATED for event in events)
        rul = next(event for event in events if event.alarm == "pump1_rul")
        assert rul.quality is Quality.LAST_USABLE
        # A Bad window holds the alarms and says so.
        hub.observe_scores([score("anomaly", None, None, Quality.COMM_ERROR)])
        events = await sink.wait_for(5)
    held = events[3:]
    assert {event.kind for event in held} == {EventKind.QUALITY}
    assert all(event.active and event.quality is Quality.COMM_ERROR for event in held)
    assert hub.standing("pump1") == ["pump1_anomaly", "pump1_score", "pump1_rul"]


async def test_a_failing_sink_is_counted_and_the_others_still_get_events(
    state_file: AlarmStateFile, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(events: Sequence[AlarmEvent]) -> None:
        raise OSError("disk full")

    hub = AlarmHub([tag_alarm()], state_file, WallClock())
    sink = Collector()
    task = asyncio.create_task(hub.run([broken, sink]))
    try:
        hub.observe_samples([sample(85.0, T0)])
        await sink.wait_for(1)
        await wait_until(lambda: sum(hub.sink_failures.values()) == 1, TIMEOUT_S, "a failure")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "1 alarm events not delivered" in caplog.text
    assert "disk full" in caplog.text


def test_a_damaged_state_file_is_set_aside(
    state_file: AlarmStateFile, caplog: pytest.LogCaptureFixture
) -> None:
    state_file.path.write_text("{not json", encoding="utf-8")
    hub = AlarmHub([tag_alarm()], state_file, WallClock())
    assert hub.alarms["hot"].state is AlarmState.NORMAL
    (aside,) = state_file.path.parent.glob("alarms.json.damaged-*")
    assert aside.read_text(encoding="utf-8") == "{not json"
    assert "alarms start Normal" in caplog.text
