"""The bot's side that listens (issue #15): getUpdates long polling, commands and button
presses, so the gateway needs no inbound port.

Decisions a reader will wonder about, in order:

- Who pressed decides, not the chat: a press counts only from a Telegram user linked to a
  gateway user (gateway.notify.telegram.linking), with that user's role as the users file
  says now (operator or above to acknowledge, shelve and judge, as on the page). Everyone
  else gets a refusal shown to them alone (answerCallbackQuery).
- The action goes through the page's facade (the `AlarmDesk` protocol below), so a press
  is what the page's button does: the alarm hub acts as that user (the OPC UA event's
  comment and ClientUserId, the MQTT payload) and the audit log records it.
- A press acknowledges the alarm as it stands (once an alarm cleared unacknowledged, the
  message's activation is still what is acknowledged), unless the alarm was raised again
  since the message: then the operator has not seen that activation, and is told so.
- Each update is handled on its own: one that fails (a bug, a refused reply) is logged
  and counted, and the next is handled; its offset is confirmed either way, or a poison
  update would come back forever.
- Replies go straight out, at the chat's pace, not through the outbox: they answer someone
  waiting now, and are worth nothing after an outage.
"""

from __future__ import annotations

import asyncio
import functools
import gettext
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from gateway.alarms.events import EventKind
from gateway.alarms.hub import AlarmHub
from gateway.config.telegram import TelegramChat
from gateway.core.clock import Clock
from gateway.core.failures import Failures
from gateway.notify.channel import SHELVE_HOURS, ActionKind, ChannelError
from gateway.notify.telegram.board import MessageBoard, Shown
from gateway.notify.telegram.bot_api import (
    BotApi,
    Button,
    CallbackQuery,
    Message,
    TelegramUser,
    Update,
)
from gateway.notify.telegram.buttons import event_digest, parse
from gateway.notify.telegram.linking import Linking
from gateway.notify.telegram.links import LinkError, TooManyWrongCodes, WrongCode
from gateway.notify.telegram.pace import Pace
from gateway.notify.telegram.replies import (
    alarms_text,
    done_answer,
    done_line,
    help_text,
    role_name,
    status_text,
    translations,
)
from gateway.runtime.backoff import Backoff
from web.facade import Refused, VerdictFields
from web.users import Role, User

logger = logging.getLogger(__name__)

T = TypeVar("T")
_VERDICTS = {ActionKind.CONFIRMED: "confirmed", ActionKind.FALSE_ALARM: "false"}


class AlarmDesk(Protocol):
    """What the bot asks of the gateway, as the page asks it (gateway.page.facade
    implements it); refusals are `web.facade.Refused` with the reason."""

    def overview(self) -> Mapping[str, Any]: ...

    def problems(self, t: gettext.NullTranslations) -> list[str]: ...

    async def acknowledge_alarm(self, name: str, event_id: str, user: str, comment: str) -> None:
        ...

    async def shelve_alarm(self, name: str, hours: float, user: str, comment: str) -> None: ...

    async def judge_latest(self, alarm: str, fields: VerdictFields, user: str) -> Mapping[str, Any]:
        ...

    async def record(self, user: str, action: str, detail: str) -> None: ...


@dataclass
class BotCounts:
    """What the bot did since the start, for /metrics (gateway.page.metrics)."""

    api_up: bool = False  # the Bot API answered the last call (getMe, getUpdates)
    updates: int = 0  # handled, well or not
    malformed: int = 0  # skipped: not understood
    failed: int = 0  # whose handling failed (contained: the next is handled)
    commands: int = 0  # messages answered: commands and the help
    presses_acted: int = 0  # presses that acknowledged, shelved or judged
    presses_refused: int = 0  # presses answered with why not
    edits: int = 0  # messages edited to show an action
    edits_failed: int = 0  # edits Telegram refused or could not take


class TelegramBot:
    """Answers commands and button presses until cancelled (`run`)."""

    def __init__(
        self,
        api: BotApi,
        pace: Pace,
        linking: Linking,
        board: MessageBoard,
        hub: AlarmHub,
        desk: AlarmDesk,
        chats: Sequence[TelegramChat],
        language: str,
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        counts: BotCounts | None = None,
    ) -> None:
        self.counts = counts or BotCounts()
        self._api = api
        self._pace = pace
        self._linking = linking
        self._board = board
        self._hub = hub
        self._desk = desk
        # A configured chat's language is what its members read; else the user's own.
        self._chat_languages = {chat.chat_id: chat.language for chat in chats
                                if chat.language is not None}
        self._language = language
        self._clock = clock
        self._backoff = backoff or Backoff(initial_s=1.0, max_s=60.0)
        self._sleep = sleep
        # One ERROR with its traceback when handling updates starts failing (issue #17).
        self._failures = Failures("telegram update", logger)

    async def run(self) -> None:
        """Poll for updates and handle them, in order, make the board's edits and keep it
        saved; waits out outages."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._edits(), name="telegram-edits")
            group.create_task(self._board.keep_saved(), name="telegram-board")
            await self._poll()

    async def _poll(self) -> None:
        me = await self._answered(self._api.get_me)
        offset: int | None = None
        while True:
            polled = await self._answered(functools.partial(self._api.get_updates, offset))
            if polled.next_offset is not None:
                offset = polled.next_offset
            self.counts.malformed += polled.malformed
            for update in polled.updates:
                await self._handle(update, me.username or "")

    async def _answered(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s answer, backing off while Telegram cannot be reached: one WARNING when
        it starts failing, one INFO with the outage's length when it answers again."""
        down_since: float | None = None
        while True:
            try:
                answer = await call()
            except ChannelError as error:
                self.counts.api_up = False
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning("Telegram Bot API failing (%s): buttons and commands wait",
                                   error)
                else:
                    logger.debug("Telegram Bot API still failing: %s", error)
                await self._sleep(getattr(error, "retry_after", None)
                                  or self._backoff.next_delay())
                continue
            self.counts.api_up = True
            if down_since is not None:
                logger.info("Telegram Bot API answers again after %.1f s",
                            time.monotonic() - down_since)
                self._backoff.reset()
            return answer

    async def _handle(self, update: Update, username: str) -> None:
        part = "press" if update.callback_query is not None else "message"
        self.counts.updates += 1
        try:
            if update.callback_query is not None:
                if await self._pressed(update.callback_query):
                    self.counts.presses_acted += 1
                else:
                    self.counts.presses_refused += 1
            elif update.message is not None:
                await self._message(update.message, username)
        except Exception as error:  # noqa: BLE001 - one update must not stop the others
            self.counts.failed += 1
            self._failures.failed(part, error, f"update {update.update_id} skipped")
        else:
            self._failures.recovered(part)

    # -- commands --------------------------------------------------------------------------

    async def _message(self, message: Message, username: str) -> None:
        """A command (`/status`, or `/status@<this bot>` in a group), or the help."""
        sender, text = message.sender, (message.text or "").strip()
        if sender is None or not text.startswith("/"):
            if sender is not None and message.chat.type == "private":
                user = await self._linking.user_of(sender.id)
                self.counts.commands += 1
                await self._reply(message.chat.id, help_text(
                    self._texts(message.chat.id, user), None if user is None else user.name))
            return  # groups: only commands are for the bot
        command, _, argument = text.partition(" ")
        command, _, addressee = command.lower().partition("@")
        if addressee and addressee != username.lower():
            return  # another bot's command, in a group both are in
        user = await self._linking.user_of(sender.id)
        t = self._texts(message.chat.id, user)
        if command == "/link":
            answer = await self._link(argument, sender, t)
        elif command == "/unlink":
            answer = await self._unlink(sender, user, t)
        elif command in ("/status", "/alarms"):
            if user is None:
                answer = t.gettext("Only linked users get the gateway's state: get a code on "
                                   "the page (Telegram) and send /link CODE here.")
            elif command == "/status":
                answer = status_text(t, self._desk.overview(), self._desk.problems(t))
            else:
                answer = alarms_text(t, list(self._hub.alarms.values()))
        else:
            answer = help_text(t, None if user is None else user.name)
        self.counts.commands += 1
        await self._reply(message.chat.id, answer)

    async def _link(self, code: str, sender: TelegramUser, t: gettext.NullTranslations) -> str:
        if not code.strip():
            return t.gettext("Send the code from the page with the command: /link CODE")
        try:
            link, before = await self._linking.redeem(code, sender)
        except LinkError as refused:
            logger.info("Telegram user %s (%d): link refused: %s", sender.shown, sender.id,
                        refused)
            if isinstance(refused, WrongCode):
                return t.gettext("Not linked: this code is wrong, expired or used; get a new "
                                 "one on the page.")
            if isinstance(refused, TooManyWrongCodes):
                return t.gettext("Not linked: too many wrong codes; try again in 10 minutes.")
            return t.gettext("Not linked: {reason}").format(reason=refused)
        replaced = "" if before is None or before.user == link.user else f", was {before.user}"
        await self._audit(link.user, "Telegram linked",
                          f"{sender.shown} ({sender.id}){replaced}")
        return t.gettext("Linked: you act as gateway user {user}.").format(user=link.user)

    async def _unlink(self, sender: TelegramUser, user: User | None,
                      t: gettext.NullTranslations) -> str:
        try:
            link = await self._linking.unlink(sender.id, None)
        except LinkError:
            return t.gettext("Your Telegram account is not linked.")
        await self._audit(user.name if user is not None else link.user, "Telegram unlinked",
                          f"{sender.shown} ({sender.id})")
        return t.gettext("Unlinked: your presses no longer act as {user}.").format(
            user=link.user)

    # -- button presses --------------------------------------------------------------------

    async def _pressed(self, query: CallbackQuery) -> bool:
        """Handle a press; True when it acted, False when it was refused."""
        press = parse(query.data)
        user = await self._linking.user_of(query.sender.id)
        chat_id = query.message.chat.id if query.message is not None else None
        t = self._texts(chat_id, user)
        if press is None:
            await self._answer(query, t.gettext("This button is not one of the gateway's."))
            return False
        if user is None:
            logger.info("Telegram press refused: %s (%d) is not linked", query.sender.shown,
                        query.sender.id)
            await self._answer(query, t.gettext(
                "You are not linked to a gateway user: get a code on the page (Telegram) and "
                "send /link CODE to the bot."), alert=True)
            return False
        if not user.role.at_least(Role.OPERATOR):
            logger.info("Telegram press refused: %s is a %s", user.name, user.role)
            await self._answer(query, t.gettext(
                "Refused: user {user} is a {role}; acknowledging, shelving and verdicts need "
                "an operator or above.").format(user=user.name, role=role_name(t, user.role)),
                alert=True)
            return False
        alarm = press.alarm_among(self._hub.alarms)
        if alarm is None:
            await self._answer(query, t.gettext("This alarm is no longer configured."))
            return False
        if press.kind is ActionKind.ACKNOWLEDGE and self._hub.alarms[alarm].acked:
            await self._answer(query, t.gettext("Alarm {alarm} is already acknowledged.")
                               .format(alarm=alarm))
            return False
        if press.kind is ActionKind.ACKNOWLEDGE and self._raised_since(alarm, press.event):
            await self._answer(query, t.gettext(
                "Alarm {alarm} was raised again since this message: acknowledge it from the "
                "newer message or the page.").format(alarm=alarm), alert=True)
            return False
        try:
            await self._act(press.kind, alarm, user.name, query.sender)
        except Refused as refused:
            await self._answer(query, t.gettext("Refused: {reason}").format(reason=refused),
                               alert=True)
            return False
        await self._answer(query, done_answer(t, press.kind, alarm))
        if query.message is not None:
            await self._mark_done(query.message, alarm, press.kind, user)
        return True

    def _raised_since(self, alarm: str, event: str) -> bool:
        """Whether the alarm's latest event is an activation other than the one the message
        was about (`event`, its digest): the operator has not seen that one. Only then: a
        later clear or quality change still belongs to the message's activation."""
        last = self._hub.alarms[alarm].last_event
        return (last is not None and last.kind is EventKind.ACTIVATED
                and event_digest(str(last.id)) != event)

    async def _act(self, kind: ActionKind, alarm: str, user: str, sender: TelegramUser) -> None:
        comment = f"Telegram {sender.shown}"
        if kind is ActionKind.ACKNOWLEDGE:
            last = self._hub.alarms[alarm].last_event
            if last is None:
                raise Refused(f"alarm {alarm!r} is normal: nothing to acknowledge")
            await self._desk.acknowledge_alarm(alarm, str(last.id), user, comment)
        elif kind is ActionKind.SHELVE:
            await self._desk.shelve_alarm(alarm, SHELVE_HOURS, user, comment)
        else:
            await self._desk.judge_latest(alarm, VerdictFields(_VERDICTS[kind], note=comment),
                                          user)

    async def _mark_done(
        self, message: Message, alarm: str, kind: ActionKind, user: User
    ) -> None:
        """Edit the pressed message: who did what, and the buttons left to press."""
        shown = self._board.shown(message.chat.id, message.message_id)
        if shown is None:  # sent before the start: as Telegram hands it back
            rows = tuple(tuple(Button(b.text, b.callback_data) for b in row
                               if b.callback_data is not None)
                         for row in (message.reply_markup.inline_keyboard
                                     if message.reply_markup is not None else []))
            shown = Shown(message.chat.id, message.message_id, alarm, "",
                          self._language_of(message.chat.id, user), message.text or "", rows)
        elif kind is ActionKind.ACKNOWLEDGE and shown.acked:
            return  # the acknowledgement's own edit is made already, or waits its turn
        line = done_line(translations(shown.language), kind, user.name, self._clock.now())
        done = shown.done(kind, line)
        self._board.mark(done)
        await self._edit(done)

    async def _edits(self) -> None:
        """Make the edits the board queues (acknowledgements from anywhere), in order."""
        while True:
            await self._edit(await self._board.edits.get())

    async def _edit(self, shown: Shown) -> None:
        try:
            async with self._pace.turn(shown.chat_id):
                await self._api.edit_message_text(shown.chat_id, shown.message_id, shown.text,
                                                  shown.rows)
        except ChannelError as error:
            self.counts.edits_failed += 1
            logger.warning("Telegram: message %d of chat %d not edited: %s", shown.message_id,
                           shown.chat_id, error)
        else:
            self.counts.edits += 1

    # -- helpers ---------------------------------------------------------------------------

    def _texts(self, chat_id: int | None, user: User | None) -> gettext.NullTranslations:
        return translations(self._language_of(chat_id, user))

    def _language_of(self, chat_id: int | None, user: User | None) -> str:
        """A configured chat's language, else the user's, else the gateway's."""
        return (self._chat_languages.get(chat_id) if chat_id is not None else None) or (
            user.language if user is not None else None) or self._language

    async def _reply(self, chat_id: int, text: str) -> None:
        try:
            async with self._pace.turn(chat_id):
                await self._api.send_message(chat_id, text)
        except ChannelError as error:
            logger.warning("Telegram: no reply to chat %d: %s", chat_id, error)

    async def _answer(self, query: CallbackQuery, text: str, *, alert: bool = False) -> None:
        try:
            await self._api.answer_callback_query(query.id, text, alert=alert)
        except ChannelError as error:
            logger.warning("Telegram: press of %s not answered: %s", query.sender.shown, error)

    async def _audit(self, user: str, action: str, detail: str) -> None:
        try:
            await self._desk.record(user, action, detail)
        except Refused as error:  # no audit log without [web]
            logger.info("%s by %s not in the audit log: %s", action, user, error)
