"""The Telegram channel's parts in a running gateway, built in one place from `[telegram]`
(issue #15): the Bot API client, Telegram's pace, the channel the notify outbox sends
through, the links of Telegram accounts, and the bot that listens.

A missing or unreadable token stops nothing: it is said once at the start (ERROR), every
call is refused as the channel being down, and the notifications wait in the outbox until
the token is there and the gateway restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.alarms.hub import AlarmHub
from gateway.config.telegram import TOKEN_ENV, TelegramSection
from gateway.core.clock import Clock
from gateway.notify.telegram.board import MessageBoard
from gateway.notify.telegram.bot import AlarmDesk, BotCounts, TelegramBot
from gateway.notify.telegram.bot_api import BotApi
from gateway.notify.telegram.channel import TelegramChannel
from gateway.notify.telegram.linking import Linking
from gateway.notify.telegram.links import FOLDER, LinkCodes, LinkStore
from gateway.notify.telegram.pace import Pace
from web.users import UserStore

logger = logging.getLogger(__name__)

USERS_FOLDER = "web"  # under data_dir: the page's users (gateway.page.site.WEB_FOLDER)


@dataclass(frozen=True, slots=True)
class Telegram:
    """The parts; `channel` is what the notify outbox sends through (telling `board.sent`
    of what it delivered), `board.alarm_events` an alarm hub sink, `linking` what the
    page's Telegram section uses, `counts` what the bot did (/metrics)."""

    section: TelegramSection
    api: BotApi
    pace: Pace
    channel: TelegramChannel
    linking: Linking
    board: MessageBoard
    counts: BotCounts = field(default_factory=BotCounts)

    def bot(self, hub: AlarmHub, desk: AlarmDesk, language: str, clock: Clock) -> TelegramBot:
        """The bot answering commands and presses (run it as a task)."""
        return TelegramBot(self.api, self.pace, self.linking, self.board, hub, desk,
                           self.section.chats, language, clock, counts=self.counts)


@asynccontextmanager
async def open_telegram(
    section: TelegramSection, data_dir: Path, clock: Clock
) -> AsyncIterator[Telegram]:
    """The parts, for as long as the context lasts (the HTTP session closes after)."""
    token = await asyncio.to_thread(_token, section)
    # Its own reader of the page's users file, as OPC UA has (issue #14).
    users, _ = await UserStore.open(data_dir / USERS_FOLDER, create=False)
    folder = data_dir / FOLDER
    linking = Linking(await LinkStore.open(folder), await LinkCodes.open(folder, clock.now),
                      users, clock.now)
    pace = Pace(clock.monotonic)
    async with BotApi(section.api_url, token) as api:
        yield Telegram(section, api, pace, TelegramChannel(api, pace), linking,
                       await MessageBoard.open(folder))


def _token(section: TelegramSection) -> str | None:
    try:
        token = section.token()
    except OSError as error:
        logger.error("Telegram: cannot read the token file %s (%s): nothing is sent to "
                     "Telegram; notifications wait in the outbox", section.token_file, error)
        return None
    if token is None:
        logger.error("Telegram: no token: set [telegram] token_file or %s; nothing is sent "
                     "to Telegram, notifications wait in the outbox", TOKEN_ENV)
    return token
