"""The few Telegram Bot API methods the gateway uses, over aiohttp (issue #15).

Decisions a reader will wonder about, in order:

- No Telegram library. The gateway calls five methods (sendMessage, editMessageText,
  answerCallbackQuery, getUpdates, getMe); aiogram 3.31 is a bot framework (routers,
  filters, FSM) that pins pydantic below 2.14, which the gateway already runs at, and
  python-telegram-bot 22 brings httpx, a second HTTP stack beside aiohttp, for the same
  five calls. Neither limits the sending rate for us (gateway.notify.telegram.pace does).
- Plain text, no parse_mode: a message never fails on markup Telegram does not take
  (alarm names and values are outside data), and Telegram turns the page's link into a
  link by itself.
- Errors are translated here, once, into the channel's error tree
  (gateway.notify.channel): a 429 and any outage or 5xx are `ChannelDown` (with the
  answer's retry_after), a 400 or 403 about the chat or the message is `Undeliverable`.
  A refused token (401, 404) is `ChannelDown` too: nothing is dropped while someone fixes
  the token file.
- The token is in every URL (/bot<token>/method): it appears in no message, log line or
  exception this module makes, and library errors are rewritten with it cut out.
- Long polling: getUpdates holds the request open for `poll_s`, so the gateway needs no
  inbound port; the HTTP timeout is longer than that.
- `trust_env`: the HTTPS_PROXY of the environment is used, as plants often need one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.notify.channel import ChannelDown, Undeliverable

logger = logging.getLogger(__name__)

TEXT_MAX_CHARS = 4096  # sendMessage and editMessageText (Bot API, "sendMessage")
CALLBACK_DATA_MAX_BYTES = 64  # InlineKeyboardButton.callback_data
REQUEST_TIMEOUT_S = 30.0  # any call but getUpdates, which adds its own poll time


class _Parsed(BaseModel):
    # Telegram adds fields over time: those the gateway does not read are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class TelegramUser(_Parsed):
    """Who sent a message or pressed a button."""

    id: int
    first_name: str = ""
    username: str | None = None

    @property
    def shown(self) -> str:
        """How the audit log and the messages name them: @username, else the first name."""
        return f"@{self.username}" if self.username else f"{self.first_name} ({self.id})"


class Chat(_Parsed):
    id: int
    type: str = "private"


class InlineButton(_Parsed):
    text: str
    callback_data: str | None = None


class InlineKeyboard(_Parsed):
    inline_keyboard: list[list[InlineButton]]


class Message(_Parsed):
    message_id: int
    chat: Chat
    sender: TelegramUser | None = Field(default=None, alias="from")
    text: str | None = None
    reply_markup: InlineKeyboard | None = None  # the buttons it carries


class CallbackQuery(_Parsed):
    """A press of an inline button; `message` is the message that carries it (absent when
    the message is too old for Telegram to say)."""

    id: str
    sender: TelegramUser = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class Update(_Parsed):
    update_id: int
    message: Message | None = None
    callback_query: CallbackQuery | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An inline keyboard button whose press comes back as `data`."""

    text: str
    data: str


Keyboard = Sequence[Sequence[Button]]  # rows of buttons


@dataclass(frozen=True, slots=True)
class Polled:
    """One getUpdates answer: the updates understood, and how many were not."""

    updates: list[Update]
    next_offset: int | None  # the offset confirming all of them; None: nothing came
    malformed: int


class BotApi:
    """A bot's calls to `api_url` with `token`; use `async with BotApi(...) as api`."""

    def __init__(self, api_url: str, token: str | None, *, poll_s: float = 50.0) -> None:
        # Without a token every call is refused as ChannelDown (gateway.notify.telegram.
        # service says why, once).
        self._token = token or ""
        self._base = f"{api_url.rstrip('/')}/bot{self._token}/"
        self._poll_s = poll_s
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"BotApi({self._redacted(self._base)!r})"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S), trust_env=True)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send_message(self, chat_id: int, text: str, keyboard: Keyboard = ()) -> int:
        """Send `text` (cut to Telegram's limit) to `chat_id`; the message's id."""
        body: dict[str, Any] = {"chat_id": chat_id, "text": fitted(text),
                                "link_preview_options": {"is_disabled": True}}
        if keyboard:
            body["reply_markup"] = _markup(keyboard)
        result = await self._call("sendMessage", body)
        try:
            return Message.model_validate(result).message_id
        except ValidationError as error:
            raise ChannelDown(f"sendMessage: not a message in the answer: {error}") from None

    async def edit_message_text(
        self, chat_id: int, message_id: int, text: str, keyboard: Keyboard = ()
    ) -> None:
        """Replace a sent message's text and buttons (no buttons: they are taken away)."""
        body: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id,
                                "text": fitted(text), "reply_markup": _markup(keyboard),
                                "link_preview_options": {"is_disabled": True}}
        try:
            await self._call("editMessageText", body)
        except Undeliverable as refused:
            # Two presses at once: the second edit says what the first did already.
            if "message is not modified" not in refused.reason:
                raise

    async def answer_callback_query(self, query_id: str, text: str, *, alert: bool = False) -> None:
        """Answer a button press; `text` is shown to whoever pressed it."""
        await self._call("answerCallbackQuery", {"callback_query_id": query_id,
                                                 "text": fitted(text, 200), "show_alert": alert})

    async def get_updates(self, offset: int | None) -> Polled:
        """The updates after `offset` (each confirms those before it), waiting up to `poll_s`
        for one. Updates that do not parse are counted and skipped, never fatal."""
        body: dict[str, Any] = {"timeout": int(self._poll_s),
                                "allowed_updates": ["message", "callback_query"]}
        if offset is not None:
            body["offset"] = offset
        result = await self._call("getUpdates", body, extra_timeout_s=self._poll_s)
        if not isinstance(result, list):
            raise ChannelDown("getUpdates: the answer is not a list of updates")
        updates, malformed, highest = [], 0, None
        for item in result:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if isinstance(update_id, int):
                highest = update_id if highest is None else max(highest, update_id)
            try:
                updates.append(Update.model_validate(item))
            except ValidationError as error:
                malformed += 1
                logger.warning("Telegram update skipped, not understood: %s",
                               error.errors(include_url=False)[:1])
        return Polled(updates, None if highest is None else highest + 1, malformed)

    async def get_me(self) -> TelegramUser:
        """The bot itself (checks the token)."""
        try:
            return TelegramUser.model_validate(await self._call("getMe", {}))
        except ValidationError as error:
            raise ChannelDown(f"getMe: not a user in the answer: {error}") from None

    async def _call(
        self, method: str, body: Mapping[str, Any], extra_timeout_s: float = 0.0
    ) -> Any:  # noqa: ANN401 - the JSON `result` of the method, checked by the caller
        if self._session is None:
            raise RuntimeError("BotApi is used outside `async with`")
        if not self._token:
            raise ChannelDown(f"{method}: no Telegram token")
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S + extra_timeout_s)
        try:
            async with self._session.post(self._base + method, json=body,
                                          timeout=timeout) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise ChannelDown(f"{method}: {self._redacted(error)}") from None
        return _result(method, status, raw)

    def _redacted(self, error: BaseException | str) -> str:
        """The error in words without the token (aiohttp's errors may quote the URL)."""
        text = str(error) or type(error).__name__
        return text.replace(self._token, "<token>") if self._token else text


def _result(method: str, status: int, raw: bytes) -> Any:  # noqa: ANN401 - JSON
    """The answer's `result`, or the error it says translated."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ChannelDown(f"{method}: HTTP {status}, not a Bot API answer")
    if answer.get("ok") is True and status == 200:
        return answer.get("result")
    description = str(answer.get("description") or f"HTTP {status}")
    code = answer.get("error_code", status)
    parameters = answer.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    retry_after = parameters.get("retry_after")
    if code == 429:
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        raise ChannelDown(f"{method}: too many requests: {description}", wait)
    migrated = parameters.get("migrate_to_chat_id")
    if migrated is not None:
        raise Undeliverable(f"{method}: {description}; the group is now chat {migrated}: "
                            f"set chat_id = {migrated}")
    if code in (400, 403):
        raise Undeliverable(f"{method}: {description}")
    # 401/404: a wrong token; 409: another getUpdates or a webhook; 5xx: Telegram's side.
    raise ChannelDown(f"{method}: {description}")


def fitted(text: str, limit: int = TEXT_MAX_CHARS) -> str:
    """`text` cut to `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markup(keyboard: Keyboard) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": button.text, "callback_data": button.data}
                                 for button in row] for row in keyboard]}
