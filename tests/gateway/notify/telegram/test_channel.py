"""The Telegram channel through the notify outbox's sender, against the fake Bot API: the
buttons, Telegram's pace, a 429's retry_after, and a 10-minute outage that loses nothing.

The outage is 10 minutes of the sender's own time: the fake server stays down until the
delays the sender's backoff asked for add up to 600 s (its default, 1 s doubling to 60 s,
so the same ~15 attempts as a real 10-minute outage), each slept 1000 times shorter
(CountedBackoff); Telegram's pace runs on a logical clock the fake server also stamps
with.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.notify.channel import Action, ActionKind, RenderedMessage
from gateway.notify.sender import ChannelSender
from gateway.notify.telegram.bot_api import BotApi
from gateway.notify.telegram.channel import TelegramChannel
from gateway.notify.telegram.pace import Pace
from gateway.runtime.backoff import Backoff
from gateway.store.outbox import Outbox
from tests.fixtures.telegram import TOKEN, FakeBotApi
from tests.gateway.notify.telegram.logical_time import CountedBackoff, LogicalTime

CHATS = (-1001, -1002)


def _message(n: int, alarm: str | None = None) -> RenderedMessage:
    actions = () if alarm is None else (
        Action(ActionKind.ACKNOWLEDGE, f"event-{n}", "Квитировать", alarm),
        Action(ActionKind.SHELVE, f"event-{n}", "Отложить на 8 ч", alarm))
    return RenderedMessage(subject=f"Насос {n}: авария", text=f"Насос {n}: авария\nзначение {n}",
                           html="<p>ignored</p>", language="ru", event_id=f"event-{n}",
                           actions=actions)


@contextlib.asynccontextmanager
async def _sending(
    fake: FakeBotApi, folder: Path, time: LogicalTime, backoff: Backoff
) -> AsyncIterator[ChannelSender]:
    async with (Outbox.open(folder / "telegram.sqlite", max_messages=10_000,
                            max_age_s=86400.0) as outbox,
                BotApi(fake.url, TOKEN) as api):
        sender = ChannelSender(TelegramChannel(api, Pace(time.monotonic, time.sleep)), outbox,
                               backoff=backoff)
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_message_reaches_its_chat_with_its_buttons(
    bot_api: FakeBotApi, tmp_path: Path
) -> None:
    time = LogicalTime()
    async with _sending(bot_api, tmp_path, time, Backoff(0.05, 0.2)) as sender:
        await sender.queue(str(CHATS[0]), _message(1, alarm="pump3.hot"))
        await bot_api.wait_for(lambda: sender.counts.sent == 1, "the message sent")
    (sent,) = bot_api.messages
    assert sent.chat_id == CHATS[0]
    assert sent.text == "Насос 1: авария\nзначение 1"  # the subject is its first line
    assert [[b["text"] for b in row] for row in sent.buttons] == [["Квитировать",
                                                                   "Отложить на 8 ч"]]


async def test_a_ten_minute_outage_loses_nothing_and_sends_in_order(
    bot_api: FakeBotApi, tmp_path: Path
) -> None:
    time, backoff = LogicalTime(), CountedBackoff()
    bot_api.clock = time.monotonic
    bot_api.down = True
    async with _sending(bot_api, tmp_path, time, backoff) as sender:
        for n in range(30):
            await sender.queue(str(CHATS[n % 2]), _message(n))
        await bot_api.wait_for(lambda: backoff.logical_s >= 600.0, "10 minutes of outage")
        attempts = bot_api.refused
        bot_api.down = False
        await bot_api.wait_for(lambda: sender.waiting() == 0, "the outbox emptied")
    assert 10 <= attempts <= 20  # one attempt per backoff delay: 1, 2, 4 ... 60 s
    assert sender.counts.outages == 1
    for index, chat in enumerate(CHATS):
        texts = [m.text.splitlines()[0] for m in bot_api.in_chat(chat)]
        assert texts == [f"Насос {n}: авария" for n in range(index, 30, 2)]  # in order, once
        times = [m.at for m in bot_api.in_chat(chat)]
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))


async def test_a_429_is_waited_out_and_nothing_is_lost(
    bot_api: FakeBotApi, tmp_path: Path
) -> None:
    time = LogicalTime()
    bot_api.clock = time.monotonic
    bot_api.too_many_requests(2, retry_after=1)
    async with _sending(bot_api, tmp_path, time, Backoff(0.05, 0.2)) as sender:
        for n in range(3):
            await sender.queue(str(CHATS[0]), _message(n))
        await bot_api.wait_for(lambda: sender.waiting() == 0, "the outbox emptied")
    assert [m.text.splitlines()[0] for m in bot_api.messages] == [
        f"Насос {n}: авария" for n in range(3)]
    assert bot_api.refused == 2
    # The chat was held for the retry_after each time, on Telegram's clock.
    assert bot_api.messages[0].at >= 2.0
