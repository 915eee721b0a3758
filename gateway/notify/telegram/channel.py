"""The Telegram channel as the notify outbox's sender uses it (gateway.notify.channel).

A recipient is a chat id, as `[[telegram.chats]]` writes it. Each send waits for the
chat's turn (gateway.notify.telegram.pace) and carries the message's actions as inline
buttons (gateway.notify.telegram.buttons); a 429 holds the chat for its retry_after
before the sender tries again.
"""

from __future__ import annotations

import logging

from gateway.notify.channel import ChannelDown, RenderedMessage, Undeliverable
from gateway.notify.telegram.bot_api import BotApi
from gateway.notify.telegram.buttons import keyboard
from gateway.notify.telegram.pace import Pace

logger = logging.getLogger(__name__)

NAME = "telegram"


class TelegramChannel:
    """Sends rendered messages to chats through `api`, at Telegram's pace."""

    def __init__(self, api: BotApi, pace: Pace) -> None:
        self._api = api
        self._pace = pace

    @property
    def name(self) -> str:
        return NAME

    async def send(self, recipient: str, message: RenderedMessage) -> str:
        """Send `message` to chat `recipient`; the message id Telegram gave it."""
        try:
            chat_id = int(recipient)
        except ValueError:
            raise Undeliverable(f"{recipient!r} is not a Telegram chat id") from None
        try:
            async with self._pace.turn(chat_id):
                message_id = await self._api.send_message(chat_id, message_text(message),
                                                          keyboard(message.actions))
        except ChannelDown as down:
            if down.retry_after is not None:
                self._pace.hold(chat_id, down.retry_after)
            raise
        return str(message_id)


def message_text(message: RenderedMessage) -> str:
    """What a chat reads: the subject as the first line, then the text."""
    if message.text.startswith(message.subject):
        return message.text
    return f"{message.subject}\n\n{message.text}"
