"""The gateway's live alarms: fed with tag samples and asset scores, announced to sinks.

Samples and scores arrive synchronously from the poll loops and the scoring engine; the
events they cause are queued and handed, in order, to each sink in turn (the MQTT bridge's
durable outbox first, then the OPC UA server) by `run`, which then saves the alarm states.
A sink that fails is counted, logged once with its traceback until it works again, and
shown as failing; the others still get the events (issue #17). Saving after
the sinks means a crash in between can announce a transition twice (with different event
ids) but never lose one.

Delays complete on observations (gateway.alarms.rules), and the poll loops publish only
changes, so `run` also looks again at every alarm's latest value each `tick_s`: a value
that stays past its limit still activates the alarm once its on-delay has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

from gateway.alarms.configured import WatchedAlarm
from gateway.alarms.events import AlarmEvent, AlarmState
from gateway.alarms.saved import AlarmStateFile
from gateway.alarms.state import Alarm
from gateway.core.clock import Clock, SystemClock
from gateway.core.failures import Failures
from gateway.core.files import in_thread
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.score import Score

logger = logging.getLogger(__name__)

EventSink = Callable[[Sequence[AlarmEvent]], Awaitable[None]]


class AlarmHub:
    """Every alarm of the gateway, by name."""

    def __init__(
        self,
        watched: Sequence[WatchedAlarm],
        state_file: AlarmStateFile,
        clock: Clock | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self._clock = clock or SystemClock()
        self._state_file = state_file
        self._tick_s = tick_s
        restored = state_file.restore(item.rule for item in watched)
        self.alarms: dict[str, Alarm] = {alarm.rule.name: alarm for alarm in restored}
        self.sources = {item.rule.name: item.source for item in watched}
        self._by_key: defaultdict[str, list[Alarm]] = defaultdict(list)
        for item, alarm in zip(watched, restored, strict=True):
            self._by_key[item.source.key].append(alarm)
        # Alarms fed since the start: only their values are worth looking at again, since a
        # restored value is from before the restart.
        self._fed: dict[str, Alarm] = {}
        self._pending: list[AlarmEvent] = []
        self._wake = asyncio.Event()
        self.sink_failures: Counter[str] = Counter()  # events not delivered, by sink
        self.sink_health = Failures("alarm sink", logger)
        self.looks = 0  # how often `run` looked again at the fed alarms

    def observe_samples(self, samples: Iterable[Sample]) -> None:
        """Feed tag samples; the transitions they cause are queued for the sinks."""
        for sample in samples:
            for alarm in self._by_key.get(sample.key, ()):
                self._feed(alarm, sample.value, sample.quality, sample.source_time)

    def observe_scores(self, scores: Iterable[Score]) -> None:
        """Feed asset scores: AnomalyScore and Anomaly from anomaly models, RUL (and its
        interval's Low and High) from RUL ones."""
        for score in scores:
            for output, value in score.outputs():
                for alarm in self._by_key.get(f"{score.asset}.{output}", ()):
                    self._feed(alarm, value, score.quality, score.window_end)

    def acknowledge(
        self, name: str, user: str, comment: str, event_id: uuid.UUID | None = None
    ) -> AlarmEvent:
        """Acknowledge alarm `name`; KeyError if unknown, AlarmError if refused."""
        event = self.alarms[name].acknowledge(user, comment, self._clock.now(), event_id)
        self._queue([event])
        return event

    def shelve(
        self, name: str, until: datetime, user: str, comment: str, *, one_shot: bool = False
    ) -> AlarmEvent:
        """Shelve alarm `name` until `until` (`one_shot`: or until it next clears);
        KeyError if unknown, AlarmError if refused."""
        event = self.alarms[name].shelve(until, user, comment, self._clock.now(),
                                         one_shot=one_shot)
        self._queue([event])
        return event

    def unshelve(self, name: str, user: str) -> AlarmEvent:
        """Unshelve alarm `name` by hand; KeyError if unknown, AlarmError if not shelved."""
        event = self.alarms[name].unshelve(user, self._clock.now())
        self._queue([event])
        return event

    def shelving(self, name: str) -> str | None:
        """How alarm `name` is shelved: "timed", "one-shot" or None; KeyError if unknown."""
        return self.alarms[name].shelving

    def now(self) -> datetime:
        """The hub's clock: what shelving times count from."""
        return self._clock.now()

    def retained(self) -> list[AlarmEvent]:
        """The latest event of every alarm that is not Normal (what a refresh replays)."""
        return [
            alarm.last_event
            for alarm in self.alarms.values()
            if alarm.state is not AlarmState.NORMAL and alarm.last_event is not None
        ]

    def standing(self, owner: str) -> list[str]:
        """Names of the alarms on a device or asset that are not Normal."""
        return [
            name
            for name, alarm in self.alarms.items()
            if self.sources[name].owner == owner and alarm.state is not AlarmState.NORMAL
        ]

    async def run(self, sinks: Sequence[EventSink]) -> None:
        """Deliver queued events to `sinks`, in order, and save the states; until cancelled."""
        loop = asyncio.get_running_loop()
        next_look = loop.time() + self._tick_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), next_look - loop.time())
            self._wake.clear()
            if loop.time() >= next_look:
                next_look = loop.time() + self._tick_s
                self._look_again()
            if not self._pending:
                continue
            events, self._pending = self._pending, []
            await self._deliver(events, sinks)
            states = {name: alarm.to_dict() for name, alarm in self.alarms.items()}
            await in_thread(self._state_file.save, states)  # stops after the write

    def _feed(self, alarm: Alarm, value: Value, quality: Quality, at: datetime) -> None:
        self._fed[alarm.rule.name] = alarm
        self._queue(alarm.observe(value, quality, at))

    def _look_again(self) -> None:
        self.looks += 1
        now = self._clock.now()
        for alarm in self._fed.values():
            value = None if alarm.quality.is_bad else alarm.value
            self._queue(alarm.observe(value, alarm.quality, now))

    async def _deliver(self, events: list[AlarmEvent], sinks: Sequence[EventSink]) -> None:
        # One after the other, in the order given: with the durable sink first, whatever a
        # later sink has shown (an OPC UA event) is already on disk for the durable one.
        for sink in sinks:
            name = getattr(sink, "__qualname__", type(sink).__qualname__)
            try:
                await sink(events)
            except Exception as exc:  # noqa: BLE001 - one sink's failure must not stop others
                self.sink_failures[name] += len(events)
                self.sink_health.failed(
                    name, exc, f"{len(events)} alarm events not delivered to it"
                )
            else:
                self.sink_health.recovered(name)

    def _queue(self, events: list[AlarmEvent]) -> None:
        if events:
            self._pending += events
            self._wake.set()
