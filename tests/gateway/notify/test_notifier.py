"""Who gets what, when (gateway/notify/notifier.py): rules, quiet hours, digests,
escalation, devices down, models rejected, training finished. The messages are read back
from each channel's real outbox file, where the sender would take them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.config.notify import AudienceRules, NotifySection, QuietHours
from gateway.config.sources import Source, SourceKind
from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.core.storage import StorageHealth
from gateway.notify.audience import Audience
from gateway.notify.channel import RenderedMessage
from gateway.notify.events import NotificationEvent
from gateway.notify.held import HeldEvents
from gateway.notify.notifier import FinishedJob, Notifier, Outlet
from gateway.notify.sender import ChannelSender
from gateway.store.outbox import Outbox
from tests.fixtures.modbus import wait_until

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SOURCES = {
    "pump3_pressure": Source(SourceKind.TAG, "plc1", "pressure"),
    "pump3_rul": Source(SourceKind.ASSET, "pump3", "RemainingUsefulLife"),
    "fan_temp": Source(SourceKind.TAG, "plc2", "temp"),
}


@dataclass
class ManualClock:
    wall: datetime = NOON
    mono: float = 1000.0

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=self.mono - 1000.0)


class Unused:
    """The channel the sender is built with; these tests never run the sender."""

    name = "email"

    async def send(self, recipient: str, message: RenderedMessage) -> str:
        raise AssertionError("not sent in these tests")


@dataclass
class Bell:
    events: list[NotificationEvent] = field(default_factory=list)

    def add(self, event: NotificationEvent) -> None:
        self.events.append(event)


def _alarm(name: str, kind: EventKind = EventKind.ACTIVATED, severity: int = 700,
           acked: bool = False) -> AlarmEvent:
    source = SOURCES[name]
    return AlarmEvent(kind=kind, alarm=name, source=source.key, time=NOON,
                      active=kind is EventKind.ACTIVATED, acked=acked, shelved=False,
                      severity=severity, value=7.5, limit=6.0, quality=Quality.GOOD,
                      message=f"{name} message", id=uuid.uuid4())


@dataclass
class Setup:
    notifier: Notifier
    outbox: Outbox
    clock: ManualClock
    bell: Bell
    restored: int = 0

    async def queued(self) -> list[tuple[str, RenderedMessage]]:
        return [(s.message.topic, RenderedMessage.from_json(s.message.payload))
                for s in await self.outbox.peek(10_000)]


@contextlib.asynccontextmanager
async def _notifier(tmp_path: Path, audiences: Sequence[tuple[str, AudienceRules]],
                    notify: NotifySection | None = None,
                    jobs: list[FinishedJob] | None = None,
                    scores: dict[str, Score] | None = None,
                    held: bool = False) -> AsyncIterator[Setup]:
    """With `held`, the digests' events are kept in tmp_path / "held.sqlite" and what it
    holds is restored before the notifier runs, as at a gateway's start."""
    clock = ManualClock()
    bell = Bell()
    async with contextlib.AsyncExitStack() as stack:
        outbox = await stack.enter_async_context(Outbox.open(
            tmp_path / "email.sqlite", max_messages=10_000, max_age_s=86400.0))
        store = None
        if held:
            store = await stack.enter_async_context(HeldEvents.open(
                tmp_path / "held.sqlite", StorageHealth(tmp_path)))
        sender = ChannelSender(Unused(), outbox)
        outlet = Outlet(sender, [Audience("email", recipient, rules, rules.language or "ru")
                                 for recipient, rules in audiences])
        notifier = Notifier(notify or NotifySection(), "plant-1", [outlet], SOURCES,
                            lambda asset: scores or {}, {"plc1.pressure": "bar"}, bell,
                            (lambda: list(jobs)) if jobs is not None else None, clock,
                            tick_s=0.01, held=store)
        restored = await notifier.restore()
        task = asyncio.create_task(notifier.run())
        try:
            yield Setup(notifier, outbox, clock, bell, restored)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_each_audience_gets_what_its_rules_select(tmp_path: Path) -> None:
    audiences = [
        ("all@plant.example", AudienceRules(alarm_cleared=True)),
        ("serious@plant.example", AudienceRules(min_severity=800, language="en")),
        ("pumps@plant.example", AudienceRules(assets=["plc1"], alarms=["pump*"])),
    ]
    async with _notifier(tmp_path, audiences) as setup:
        await setup.notifier.alarm_events([
            _alarm("pump3_pressure"),
            _alarm("fan_temp", severity=900),
            _alarm("pump3_pressure", EventKind.CLEARED),
        ])
        queued = await setup.queued()
    got = [(recipient, message.subject) for recipient, message in queued]
    assert got == [
        ("all@plant.example", "plant-1: Авария pump3_pressure на plc1"),
        ("pumps@plant.example", "plant-1: Авария pump3_pressure на plc1"),
        ("all@plant.example", "plant-1: Авария fan_temp на plc2"),
        ("serious@plant.example", "plant-1: Alarm fan_temp on plc2"),
        ("all@plant.example", "plant-1: Авария pump3_pressure на plc1 снята"),
    ]
    assert "Значение: 7,5 bar" in queued[0][1].text
    assert len(setup.bell.events) == 3  # the bell lists every event, whoever is sent it


async def test_quiet_hours_hold_back_all_but_the_serious(tmp_path: Path) -> None:
    now = NOON.astimezone()
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=1)).strftime("%H:%M")
    night = AudienceRules(quiet_hours=QuietHours(start=start, end=end, min_severity=800))
    async with _notifier(tmp_path, [("night@plant.example", night)]) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_pressure", severity=700),
                                           _alarm("fan_temp", severity=800)])
        queued = await setup.queued()
    assert [m.subject for _, m in queued] == ["plant-1: Авария fan_temp на plc2"]


async def test_a_flood_becomes_one_digest(tmp_path: Path) -> None:
    async with _notifier(tmp_path, [("crew@plant.example", AudienceRules())],
                         NotifySection(digest_after=10)) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_pressure") for _ in range(25)])
        assert len(await setup.queued()) == 10
        assert setup.notifier.waiting_for_digest() == 15
        setup.clock.mono += 60.0
        await wait_until(lambda: setup.notifier.waiting_for_digest() == 0, 10.0,
                         "the digest sent")
        queued = await setup.queued()
    assert len(queued) == 11
    digest = queued[-1][1]
    assert digest.subject == "plant-1: 15 событий за короткое время"
    assert digest.text.count("Авария pump3_pressure") == 15


def _held_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file, its WAL included (the backup API)."""
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as db, \
            contextlib.closing(sqlite3.connect(target)) as copy:
        db.backup(copy)


async def test_events_held_for_a_digest_are_restored_after_a_stop(tmp_path: Path) -> None:
    crew = [("crew@plant.example", AudienceRules())]
    notify = NotifySection(digest_after=2)
    async with _notifier(tmp_path, crew, notify, held=True) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_pressure") for _ in range(5)])
        assert setup.notifier.waiting_for_digest() == 3
    # Stopped within the minute, its digest never sent (a SIGKILL would stop it so too).
    assert _held_rows(tmp_path / "held.sqlite") == 3
    async with _notifier(tmp_path, crew, notify, held=True) as setup:
        assert setup.restored == 3
        assert setup.notifier.waiting_for_digest() == 3
        setup.clock.mono += 59.0  # the digest is due a minute after the first was held
        await asyncio.sleep(0.05)
        assert setup.outbox.depth() == 2
        setup.clock.mono += 1.0
        await wait_until(lambda: _held_rows(tmp_path / "held.sqlite") == 0, 10.0,
                         "the digest queued and its events deleted")
        queued = await setup.queued()
    assert len(queued) == 3
    assert queued[-1][1].subject == "plant-1: 3 события за короткое время"
    assert queued[-1][1].text.count("Авария pump3_pressure") == 3


async def test_a_restart_after_the_digest_was_queued_does_not_queue_it_again(
    tmp_path: Path
) -> None:
    crew = [("crew@plant.example", AudienceRules())]
    notify = NotifySection(digest_after=1)
    async with _notifier(tmp_path, crew, notify, held=True) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_pressure") for _ in range(3)])
        # The held file as a SIGKILL between queueing the digest and deleting its events
        # would leave it.
        _copy_database(tmp_path / "held.sqlite", tmp_path / "before.sqlite")
        setup.clock.mono += 60.0
        await wait_until(lambda: _held_rows(tmp_path / "held.sqlite") == 0, 10.0,
                         "the digest queued and its events deleted")
    _copy_database(tmp_path / "before.sqlite", tmp_path / "held.sqlite")
    async with _notifier(tmp_path, crew, notify, held=True) as setup:
        assert setup.restored == 2
        setup.clock.mono += 60.0
        await wait_until(lambda: _held_rows(tmp_path / "held.sqlite") == 0, 10.0,
                         "the digest refused as queued already and its events deleted")
        queued = await setup.queued()
    # The first alone and one digest of two, once.
    assert [m.subject for _, m in queued] == ["plant-1: Авария pump3_pressure на plc1",
                                              "plant-1: 2 события за короткое время"]


async def test_an_unacknowledged_alarm_escalates_once_to_the_second_audience(
    tmp_path: Path
) -> None:
    audiences = [
        ("crew@plant.example", AudienceRules()),
        ("chief@plant.example", AudienceRules(events=["alarm_unacknowledged"],
                                              escalate_after=600.0)),
    ]
    async with _notifier(tmp_path, audiences) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_pressure"), _alarm("fan_temp")])
        acked = _alarm("fan_temp", EventKind.ACKNOWLEDGED, acked=True)
        await setup.notifier.alarm_events([acked])
        setup.clock.mono += 599.0
        await asyncio.sleep(0.05)  # ticks run; nothing is due yet
        assert [r for r, _ in await setup.queued()] == ["crew@plant.example"] * 2
        setup.clock.mono += 1.0
        await wait_until(lambda: setup.outbox.depth() == 3, 10.0, "the escalation")
        setup.clock.mono += 6000.0
        await asyncio.sleep(0.05)
        queued = await setup.queued()
    assert len(queued) == 3
    recipient, message = queued[-1]
    assert recipient == "chief@plant.example"
    assert message.subject == "plant-1: Авария pump3_pressure на plc1 всё ещё не квитирована"
    assert message.actions[0].label == "Квитировать"


async def test_a_device_down_long_enough_a_rejected_model_and_a_finished_job(
    tmp_path: Path
) -> None:
    rules = AudienceRules(events=["device_down", "model_rejected", "training_finished"])
    jobs = [FinishedJob(1, "pump3", "anomaly", "done", "")]
    async with _notifier(tmp_path, [("crew@plant.example", rules)],
                         NotifySection(device_down_after=300.0), jobs) as setup:
        down = DeviceStatus("plc1", False, "connection refused", 5, 3, None)
        setup.notifier.device_status(down)
        setup.clock.mono += 299.0
        setup.notifier.device_status(down)
        await asyncio.sleep(0.05)
        assert setup.outbox.depth() == 0
        setup.clock.mono += 1.0
        await wait_until(lambda: setup.outbox.depth() == 1, 10.0, "device down")
        setup.notifier.model_changed("pump3", "rul", "rejected: inputs do not match")
        jobs.append(FinishedJob(2, "pump3", "rul", "failed", "too little Good data"))
        await wait_until(lambda: setup.outbox.depth() == 3, 10.0, "the other two")
        queued = await setup.queued()
    assert [m.subject for _, m in queued] == [
        "plant-1: Устройство plc1 не на связи",
        "plant-1: Модель для pump3 отклонена",
        "plant-1: Обучение модели для pump3 завершено",
    ]
    assert "connection refused" in queued[0][1].text
    assert "too little Good data" in queued[2][1].text


async def test_a_rul_alarm_is_maintenance_due_with_its_interval(tmp_path: Path) -> None:
    rul = Score("pump3", "rul", 52.0, None, Quality.GOOD, NOON, NOON, "v1", (40.0, 70.0))
    async with _notifier(tmp_path, [("crew@plant.example", AudienceRules())],
                         scores={"rul": rul}) as setup:
        await setup.notifier.alarm_events([_alarm("pump3_rul")])
        ((_, message),) = await setup.queued()
    assert message.subject == "plant-1: pump3: требуется техническое обслуживание"
    assert "примерно через 40–70" in message.text


async def test_a_thousand_transitions_in_a_minute_lose_none_and_stay_within_the_pace(
    tmp_path: Path
) -> None:
    async with _notifier(tmp_path, [("crew@plant.example", AudienceRules())],
                         NotifySection(digest_after=10)) as setup:
        for second in range(60):  # 1,000 transitions spread over one minute
            setup.clock.mono = 1000.0 + second
            await setup.notifier.alarm_events(
                [_alarm("pump3_pressure") for _ in range(1000 // 60 + (second < 1000 % 60))])
        setup.clock.mono = 1000.0 + 61.0
        await wait_until(lambda: setup.notifier.waiting_for_digest() == 0, 10.0, "the digest")
        queued = await setup.queued()
    alone = [m for _, m in queued if not m.event_id.startswith("digest-")]
    digests = [m for _, m in queued if m.event_id.startswith("digest-")]
    counted = [int(m.subject.split(": ")[1].split()[0]) for m in digests]
    assert len(alone) + sum(counted) == 1000  # every transition told, alone or in a digest
    assert len(queued) <= 11  # in the minute and the digest after it
    assert len(setup.bell.events) == 1000


async def test_an_alarm_unacknowledged_at_start_still_escalates(tmp_path: Path) -> None:
    chief = AudienceRules(events=["alarm_unacknowledged"], escalate_after=600.0)
    async with _notifier(tmp_path, [("chief@plant.example", chief)]) as setup:
        # What the hub restored from its state file (hub.retained()).
        setup.notifier.seed([_alarm("pump3_pressure"), _alarm("fan_temp", acked=True)])
        setup.clock.mono += 600.0
        await wait_until(lambda: setup.outbox.depth() == 1, 10.0, "the escalation")
        setup.clock.mono += 600.0
        await asyncio.sleep(0.05)  # ticks run; nothing more is due
        queued = await setup.queued()
    assert [m.subject for _, m in queued] == [
        "plant-1: Авария pump3_pressure на plc1 всё ещё не квитирована"]
