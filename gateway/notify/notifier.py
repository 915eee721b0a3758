"""The notifications' dispatcher (issue #15): what happens in the gateway, turned into
events, chosen per audience, rendered in its language and queued on its channel.

It is fed as the MQTT bridge and the OPC UA conditions are (gateway/app.py): the alarm
hub's events through `alarm_events`, a sink the hub awaits (the messages are in their
channels' outboxes on disk before the hub saves the alarm states); the devices' statuses
and the model slots' changes from the fan-out's callbacks; the RUL and anomaly outputs from
the score cache; the training jobs by looking at their list. `run` looks again every
`tick_s`: alarms still unacknowledged (escalation), devices down for long enough, digests
due, training jobs finished.

Events held for a digest are on disk (gateway.notify.held) when `alarm_events` returns, as
the messages sent alone are in their outboxes; `restore` takes them back at a start.

Kinds from alarm events: an activated alarm on an asset's RemainingUsefulLife is
maintenance_due (with the interval the model gives), any other activated one alarm_raised;
a cleared one alarm_cleared. An alarm raised and unacknowledged after an audience's
`escalate_after` is sent to the audiences that take alarm_unacknowledged, once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.config.notify import NotifySection
from gateway.config.sources import Source
from gateway.core.clock import Clock, SystemClock
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.notify.audience import Audience, quiet, selects
from gateway.notify.channel import RenderedMessage
from gateway.notify.digest import Flood
from gateway.notify.events import NotificationEvent, NotificationKind
from gateway.notify.held import HeldEvents
from gateway.notify.render import Renderer
from gateway.notify.sender import ChannelSender
from gateway.store.outbox import MessageRefused

logger = logging.getLogger(__name__)

DEVICE_DOWN_SEVERITY = 700
MODEL_REJECTED_SEVERITY = 500
TRAINING_SEVERITY = 200
_RUL_OUTPUT = "RemainingUsefulLife"
_ANOMALY_OUTPUTS = ("AnomalyScore", "Anomaly")


class Feed(Protocol):
    """The page's notification list (the bell): it is told every event."""

    def add(self, event: NotificationEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class Outlet:
    """A channel's sender and the audiences it serves."""

    sender: ChannelSender
    audiences: Sequence[Audience]


@dataclass(frozen=True, slots=True)
class FinishedJob:
    """A training job that ended, as the notifier needs it."""

    id: int
    asset: str
    kind: str
    state: str
    reason: str


@dataclass
class _Standing:
    """An alarm raised and not yet acknowledged, and who was told it is still so."""

    event: NotificationEvent
    raised_s: float  # monotonic
    escalated: set[str]


class Notifier:
    """Turns the gateway's events into messages on every outlet; `run` until cancelled."""

    def __init__(
        self,
        notify: NotifySection,
        gateway: str,
        outlets: Sequence[Outlet],
        sources: Mapping[str, Source],
        scores: Callable[[str], Mapping[str, Score]],
        units: Mapping[str, str],
        feed: Feed | None = None,
        jobs: Callable[[], Sequence[FinishedJob]] | None = None,
        clock: Clock | None = None,
        tick_s: float = 1.0,
        held: HeldEvents | None = None,
    ) -> None:
        self._notify = notify
        self._gateway = gateway
        self._outlets = list(outlets)
        self._senders = {outlet.sender.channel.name: outlet.sender for outlet in outlets}
        self._sources = sources
        self._scores = scores
        self._units = units
        self._renderer = Renderer(gateway, notify.page_url)
        self.feed = feed
        self._jobs = jobs
        self._clock = clock or SystemClock()
        self._tick_s = tick_s
        self._floods = {audience.name: Flood(notify.digest_after)
                        for outlet in outlets for audience in outlet.audiences}
        self._held = held
        # Per audience, the rows on disk of the events its flood holds; what was offered
        # and held since the last write goes to disk in one commit (`_hold`).
        self._held_seqs: dict[str, list[int]] = {name: [] for name in self._floods}
        self._holding: list[tuple[str, NotificationEvent]] = []
        # The hub's task and `run` both dispatch: a flood in memory and its rows on disk
        # change together, under this lock.
        self._lock = asyncio.Lock()
        self._standing: dict[str, _Standing] = {}
        self._down_since: dict[str, float] = {}
        self._down_told: set[str] = set()
        self._last_error: dict[str, str] = {}
        # The jobs that had ended before the first look are not news: None until then.
        self._jobs_seen: set[int] | None = None
        self._pending: asyncio.Queue[NotificationEvent] = asyncio.Queue(maxsize=10_000)
        self.counts: Counter[str] = Counter()  # events, messages, held, dropped

    # -- inputs -----------------------------------------------------------------------

    async def alarm_events(self, events: Sequence[AlarmEvent]) -> None:
        """The alarm hub's sink: each transition's messages queued, or its events held on
        disk for a digest, before this returns."""
        async with self._lock:
            for alarm_event in events:
                event = self._from_alarm(alarm_event)
                if event is not None:
                    await self._dispatch(event)
            await self._hold()

    async def restore(self) -> int:
        """Take back the events held for digests before a restart; returns how many."""
        if self._held is None:
            return 0
        async with self._lock:
            restored = await self._held.restore()
            gone = [held.seq for held in restored if held.audience not in self._floods]
            if gone:  # audiences no longer in the configuration
                logger.info("notifications: %d held events of audiences no longer "
                            "configured dropped", len(gone))
                await self._held.release(gone)
            now, wall = self._clock.monotonic(), self._clock.now().timestamp()
            for name, flood in self._floods.items():
                mine = [held for held in restored if held.audience == name]
                if mine:
                    flood.restore([held.event for held in mine], wall - mine[0].held_s, now)
                    self._held_seqs[name] = [held.seq for held in mine]
        count = len(restored) - len(gone)
        if count:
            logger.info("notifications: %d events held for digests before the restart "
                        "restored", count)
        return count

    def seed(self, retained: Sequence[AlarmEvent]) -> None:
        """Alarms standing unacknowledged at start, whose escalation still counts (from now:
        their age before the restart is not known on the monotonic clock)."""
        for alarm_event in retained:
            if alarm_event.active and not alarm_event.acked and not alarm_event.shelved:
                event = self._from_alarm(replace(alarm_event, kind=EventKind.ACTIVATED))
                if event is not None:
                    self._standing[alarm_event.alarm] = _Standing(
                        event, self._clock.monotonic(), set())

    def device_status(self, status: DeviceStatus) -> None:
        """A device's link status, from the poll loops."""
        name = status.device
        if status.connected:
            self._down_since.pop(name, None)
            self._down_told.discard(name)
        else:
            self._down_since.setdefault(name, self._clock.monotonic())
            self._last_error[name] = status.last_error

    def model_changed(self, asset: str, kind: str, status: str) -> None:
        """A model slot took or refused a file."""
        if not status.startswith("rejected"):
            return
        self._later(NotificationEvent(
            kind=NotificationKind.MODEL_REJECTED, severity=MODEL_REJECTED_SEVERITY,
            gateway=self._gateway, time=self._clock.now(), asset=asset, source=kind,
            detail=status, link="/models"))

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch what the callbacks queued and look again every `tick_s`; until cancelled."""
        loop = asyncio.get_running_loop()
        next_look = loop.time()
        while True:
            event = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_look):
                    event = await self._pending.get()
            async with self._lock:
                if event is not None:
                    await self._dispatch(event)
                    await self._hold()
                    continue
                # What the callbacks queued before this look goes first, in order (a
                # timeout that came with a queued event leaves it queued).
                while not self._pending.empty():
                    await self._dispatch(self._pending.get_nowait())
                next_look = loop.time() + self._tick_s
                for event in self._looked_again():
                    await self._dispatch(event, self._escalating(event))
                await self._hold()
                await self._send_digests()

    def waiting_for_digest(self) -> int:
        """Events gathered for digests, over all audiences."""
        return sum(flood.waiting() for flood in self._floods.values())

    # -- inside -----------------------------------------------------------------------

    def _later(self, event: NotificationEvent) -> None:
        try:
            self._pending.put_nowait(event)
        except asyncio.QueueFull:
            self.counts["dropped"] += 1
            logger.warning("notifications: queue full, %s for %s dropped", event.kind,
                           event.asset)

    def _from_alarm(self, alarm_event: AlarmEvent) -> NotificationEvent | None:
        name = alarm_event.alarm
        if alarm_event.kind in (EventKind.ACKNOWLEDGED, EventKind.SHELVED):
            self._standing.pop(name, None)
        if alarm_event.kind is EventKind.ACTIVATED:
            kind = NotificationKind.ALARM_RAISED
        elif alarm_event.kind is EventKind.CLEARED:
            kind = NotificationKind.ALARM_CLEARED
            if alarm_event.acked:
                self._standing.pop(name, None)
        else:
            return None
        source = self._sources.get(name)
        output = source.name if source is not None else ""
        owner = source.owner if source is not None else None
        event = NotificationEvent(
            kind=kind, severity=alarm_event.severity, gateway=self._gateway,
            time=alarm_event.time, asset=owner, source=alarm_event.source, alarm=name,
            event_id=str(alarm_event.id), value=alarm_event.value, limit=alarm_event.limit,
            unit=self._units.get(alarm_event.source), detail=alarm_event.message,
            link="/alarms", actionable=kind is NotificationKind.ALARM_RAISED
            and not alarm_event.acked)
        if owner is not None and output == _RUL_OUTPUT and kind is NotificationKind.ALARM_RAISED:
            rul = self._scores(owner).get("rul")
            event = replace(event, kind=NotificationKind.MAINTENANCE_DUE,
                            interval=None if rul is None else rul.interval,
                            link=f"/assets/{owner}")
        elif owner is not None and output in _ANOMALY_OUTPUTS:
            anomaly = self._scores(owner).get("anomaly")
            event = replace(event, score=None if anomaly is None else anomaly.value,
                            link=f"/assets/{owner}")
        if kind is NotificationKind.ALARM_RAISED and not alarm_event.acked:
            self._standing[name] = _Standing(event, self._clock.monotonic(), set())
        return event

    def _looked_again(self) -> list[NotificationEvent]:
        now, at = self._clock.monotonic(), self._clock.now()
        events = []
        for name, standing in self._standing.items():
            for audience in self._escalation_audiences():
                if (audience.name not in standing.escalated
                        and now - standing.raised_s >= audience.rules.escalate_after):
                    standing.escalated.add(audience.name)
                    events.append(replace(standing.event,
                                          kind=NotificationKind.ALARM_UNACKNOWLEDGED, time=at,
                                          link=f"/alarms#{name}"))
        for device, since in self._down_since.items():
            if device not in self._down_told and now - since >= self._notify.device_down_after:
                self._down_told.add(device)
                events.append(NotificationEvent(
                    kind=NotificationKind.DEVICE_DOWN, severity=DEVICE_DOWN_SEVERITY,
                    gateway=self._gateway, time=at, asset=device, source=device,
                    detail=self._last_error.get(device, ""), link="/devices"))
        events += self._jobs_finished(at)
        return events

    def _escalation_audiences(self) -> list[Audience]:
        return [audience for outlet in self._outlets for audience in outlet.audiences
                if "alarm_unacknowledged" in audience.rules.events]

    def _escalating(self, event: NotificationEvent) -> list[Audience] | None:
        """The audiences an event found on a second look goes to: an escalation to those
        whose delay has passed, anything else to all (None)."""
        if event.kind is not NotificationKind.ALARM_UNACKNOWLEDGED or event.alarm is None:
            return None
        standing = self._standing.get(event.alarm)
        told = standing.escalated if standing is not None else set()
        return [a for a in self._escalation_audiences() if a.name in told]

    def _jobs_finished(self, at: datetime) -> list[NotificationEvent]:
        if self._jobs is None:
            return []
        jobs = self._jobs()
        if self._jobs_seen is None:
            self._jobs_seen = {job.id for job in jobs}
        events = []
        for job in jobs:
            if job.id in self._jobs_seen:
                continue
            self._jobs_seen.add(job.id)
            detail = f"job {job.id}, {job.kind} model: {job.state}"
            events.append(NotificationEvent(
                kind=NotificationKind.TRAINING_FINISHED, severity=TRAINING_SEVERITY,
                gateway=self._gateway, time=at, asset=job.asset,
                source=job.kind, detail=f"{detail} ({job.reason})" if job.reason else detail,
                link="/models"))
        return events

    async def _dispatch(self, event: NotificationEvent,
                        only: Sequence[Audience] | None = None) -> None:
        self.counts["events"] += 1
        if self.feed is not None:
            self.feed.add(event)
        now, at = self._clock.monotonic(), self._clock.now()
        for outlet in self._outlets:
            for audience in outlet.audiences:
                if only is not None and audience not in only:
                    continue
                if not selects(audience.rules, event) or quiet(audience.rules, event, at):
                    continue
                if self._floods[audience.name].offer(event, now):
                    await self._queue(outlet.sender, audience,
                                      self._renderer.message(event, audience.language))
                else:
                    self.counts["held"] += 1
                    self._holding.append((audience.name, event))

    async def _hold(self) -> None:
        """Write what the floods took since the last write, in one commit."""
        holding, self._holding = self._holding, []
        if not holding or self._held is None:
            return
        seqs = await self._held.hold(holding, self._clock.now().timestamp())
        for (name, _), seq in zip(holding, seqs or [], strict=False):
            self._held_seqs[name].append(seq)

    async def _send_digests(self) -> None:
        now = self._clock.monotonic()
        for outlet in self._outlets:
            for audience in outlet.audiences:
                held = self._floods[audience.name].due(now)
                if held:
                    await self._queue(outlet.sender, audience,
                                      self._renderer.digest(held, audience.language))
                    # Only once the digest is in the outbox (gateway.notify.held).
                    seqs, self._held_seqs[audience.name] = self._held_seqs[audience.name], []
                    if seqs and self._held is not None:
                        await self._held.release(seqs)

    async def _queue(self, sender: ChannelSender, audience: Audience,
                     message: RenderedMessage) -> None:
        try:
            if await sender.queue(audience.recipient, message):
                self.counts["messages"] += 1
        except MessageRefused as refused:  # a full disk: counted by the outbox too
            self.counts["dropped"] += 1
            logger.warning("notifications: %s for %s not queued: %s", message.event_id,
                           audience.name, refused)
