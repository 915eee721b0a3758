"""A flood of alarm transitions through the notifications to Telegram (issue #15).

Run by hand from the repository root; prints a table and one JSON line:

    python bench/notify_flood.py                  # 1,000 transitions in 60 s, 3 chats
    python bench/notify_flood.py --speed 10       # the same minutes, 10x faster
    python bench/notify_flood.py --refuse 5       # and Telegram answers 429 five times

1,000 alarm transitions (50 alarms raised and cleared in turn, evenly over a minute) go
into the gateway's own notification path: the alarm hub's sink (Notifier.alarm_events),
each chat's rules (`events = ["alarm"]`, `alarm_cleared = true`, so every transition is
for every chat), the flood's digests (`[notify] digest_after`, 10) with the events they
hold on disk (gateway.notify.held), the rendering, the durable outbox and its sender,
Telegram's pace (gateway.notify.telegram.pace) and the Bot API client, to the fake Bot API
server of the tests (tests/fixtures/telegram.py) on loopback, which stamps what it
receives. The transitions are fed to the notifier as the hub hands them over; the hub
itself is measured by bench/alarms.py.

What it checks, at the fake server: every transition arrives, alone or counted in a digest
(the digest's subject says how many it lists), in every chat; no chat gets two messages
less than a second apart; no second holds more than 30 messages overall. Exit code 0 when
all hold. Also printed: how long the hub's sink took per transition (p50, p99, max): the
messages' and the held events' commits are in it. `--speed` runs the clocks of the
notifier, the pace and the server faster (a minute of flood and its digest in 60 / speed
seconds); the server's stamps are on that clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.alarms.events import AlarmEvent, EventKind  # noqa: E402
from gateway.config.notify import NotifySection  # noqa: E402
from gateway.config.telegram import TelegramChat  # noqa: E402
from gateway.core.quality import Quality  # noqa: E402
from gateway.core.storage import StorageHealth  # noqa: E402
from gateway.notify.audience import Audience  # noqa: E402
from gateway.notify.held import HeldEvents  # noqa: E402
from gateway.notify.notifier import Notifier, Outlet  # noqa: E402
from gateway.notify.sender import ChannelSender  # noqa: E402
from gateway.notify.telegram.bot_api import BotApi  # noqa: E402
from gateway.notify.telegram.channel import TelegramChannel  # noqa: E402
from gateway.notify.telegram.pace import Pace  # noqa: E402
from gateway.store.outbox import Outbox  # noqa: E402
from tests.fixtures.telegram import TOKEN, FakeBotApi, SentMessage  # noqa: E402

CHATS = (-1001, -1002, -1003)
ALARMS = 50
RETRY_AFTER_S = 2
DIGEST_SUBJECT = re.compile(r": (\d+) events? in a short time$")


@dataclass
class ScaledClock:
    """Monotonic time running `speed` times faster than the real one; wall time as is."""

    speed: float
    _start: float = 0.0

    def __post_init__(self) -> None:
        self._start = time.monotonic()

    def monotonic(self) -> float:
        return self._start + (time.monotonic() - self._start) * self.speed

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


def transitions(count: int) -> list[AlarmEvent]:
    """`count` transitions of ALARMS alarms, each raised then cleared, in turn."""
    events = []
    for n in range(count):
        raised = (n // ALARMS) % 2 == 0
        name = f"pump{n % ALARMS}_pressure_high"
        events.append(AlarmEvent(
            kind=EventKind.ACTIVATED if raised else EventKind.CLEARED, alarm=name,
            source=f"pump{n % ALARMS}.pressure", time=datetime.now(UTC), active=raised,
            acked=not raised, shelved=False, severity=800, value=12.5 if raised else 5.0,
            limit=10.0, quality=Quality.GOOD, message="Discharge pressure high",
            id=uuid.uuid4()))
    return events


def delivered(messages: Sequence[SentMessage]) -> int:
    """Transitions a chat was told of: one per message, or the count a digest gives."""
    total = 0
    for message in messages:
        found = DIGEST_SUBJECT.search(message.text.splitlines()[0])
        total += int(found.group(1)) if found else 1
    return total


def busiest_second(stamps: Sequence[float]) -> int:
    """The most stamps within any one second."""
    ordered = sorted(stamps)
    return max((sum(1 for t in ordered[i:] if t < start + 1.0)
                for i, start in enumerate(ordered)), default=0)


async def run(count: int, duration_s: float, speed: float, refuse: int,
              folder: Path) -> dict[str, object]:
    clock = ScaledClock(speed)
    fake = FakeBotApi(clock=clock.monotonic)
    # Telegram's 429s, each asking for RETRY_AFTER_S (on the real clock: the server's own).
    fake.too_many_requests(refuse, retry_after=RETRY_AFTER_S)
    async with (fake.serve(), BotApi(fake.url, TOKEN) as api,
                Outbox.open(folder / "telegram.sqlite", max_messages=100_000,
                            max_age_s=86400.0) as outbox,
                HeldEvents.open(folder / "held.sqlite", StorageHealth(folder)) as held):
        pace = Pace(clock.monotonic, clock.sleep)
        sender = ChannelSender(TelegramChannel(api, pace), outbox)
        audiences = [Audience("telegram", str(chat), TelegramChat(
            chat_id=chat, events=["alarm"], alarm_cleared=True), "en") for chat in CHATS]
        notifier = Notifier(NotifySection(language="en", digest_after=10), "bench",
                            [Outlet(sender, audiences)], {}, lambda asset: {}, {},
                            clock=clock, tick_s=0.2 / speed, held=held)
        sink_s = []
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(sender.run()), group.create_task(notifier.run())]
            started = clock.monotonic()
            for n, event in enumerate(transitions(count)):
                # Evenly over the minute, on the scaled clock.
                await clock.sleep(max(0.0, started + n * duration_s / count - clock.monotonic()))
                before = time.perf_counter()
                await notifier.alarm_events([event])
                sink_s.append(time.perf_counter() - before)
            fed_s = clock.monotonic() - started
            while notifier.waiting_for_digest() or sender.waiting():  # noqa: ASYNC110 - two parts
                await asyncio.sleep(0.05)  # the digest's minute, then the outbox, drain
            done_s = clock.monotonic() - started
            for task in tasks:
                task.cancel()
    per_chat = {chat: fake.in_chat(chat) for chat in CHATS}
    gaps = [b.at - a.at for messages in per_chat.values()
            for a, b in zip(messages, messages[1:], strict=False)]
    return {
        "transitions": count, "chats": len(CHATS), "fed_s": round(fed_s, 1),
        "all_sent_s": round(done_s, 1),
        "messages_per_chat": {str(chat): len(m) for chat, m in per_chat.items()},
        "digests_per_chat": {str(chat): sum(bool(DIGEST_SUBJECT.search(x.text.splitlines()[0]))
                                            for x in m) for chat, m in per_chat.items()},
        "delivered_per_chat": {str(chat): delivered(m) for chat, m in per_chat.items()},
        "min_gap_in_a_chat_s": round(min(gaps), 3) if gaps else None,
        "busiest_second_overall": busiest_second([m.at for m in fake.messages]),
        "refused_by_server": fake.refused,
        "sink_ms_p50_p99_max": [round(1000 * statistics.quantiles(sink_s, n=100)[q], 2)
                                for q in (49, 98)] + [round(1000 * max(sink_s), 2)],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of flood")
    parser.add_argument("--speed", type=float, default=1.0, help="clocks this much faster")
    parser.add_argument("--refuse", type=int, default=0,
                        help=f"answer the first N sendMessage 429 (retry_after {RETRY_AFTER_S})")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-flood-") as folder:
        figures = asyncio.run(run(options.transitions, options.duration, options.speed,
                                  options.refuse, Path(folder)))
    for key, value in figures.items():
        print(f"{key:24} {value}")
    print(json.dumps(figures))
    lost = any(n != options.transitions for n in figures["delivered_per_chat"].values())  # type: ignore[attr-defined]
    gap = figures["min_gap_in_a_chat_s"]
    too_fast = (gap is not None and gap < 1.0) or figures["busiest_second_overall"] > 30  # type: ignore[operator]
    return 1 if lost or too_fast else 0


if __name__ == "__main__":
    sys.exit(main())
