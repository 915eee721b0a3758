"""The alarm messages the gateway sent to chats, as they read now (issue #15), so that an
acknowledgement from anywhere (the page, OPC UA, MQTT, a button in another chat) shows on
every message of that alarm: who, when, and no Acknowledge button any more.

The notify outbox's sender tells `sent` of each message it delivered; the alarm hub tells
`alarm_events` of each transition (a sink: it only queues the edits, which the bot makes
at Telegram's pace). Kept for the latest activation of each alarm, at most `max_alarms`
alarms, in memory and in `<data_dir>/telegram/board.json` (0600), saved within `SAVE_S`
of a change by `keep_saved` (the bot runs it), so an acknowledgement after a restart
still shows on every message of its alarm. What changed in the last second before a
SIGKILL is lost: a press then still edits the message it was pressed on (from the
message Telegram hands back), only the others are not edited. A file that cannot be
read starts an empty board (WARNING): it is a record of messages, not of alarms.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.core.files import in_thread, write_atomically
from gateway.notify.channel import ActionKind, RenderedMessage
from gateway.notify.telegram.bot_api import Button
from gateway.notify.telegram.buttons import keyboard, without
from gateway.notify.telegram.channel import message_text
from gateway.notify.telegram.replies import done_line, translations

logger = logging.getLogger(__name__)

MAX_ALARMS = 1000
MAX_EDITS_WAITING = 1000
FILE_NAME = "board.json"
FILE_VERSION = 1
SAVE_S = 1.0


@dataclass(frozen=True, slots=True)
class Shown:
    """One sent message as its chat shows it now."""

    chat_id: int
    message_id: int
    alarm: str
    event_id: str  # the activation it is about
    language: str
    text: str
    rows: tuple[tuple[Button, ...], ...]
    acked: bool = False

    def done(self, kind: ActionKind, line: str) -> Shown:
        """As it reads once `kind` was done: `line` (who, when) added, its button gone."""
        rows = tuple(tuple(row) for row in without(self.rows, kind))
        return replace(self, text=f"{self.text}\n\n{line}", rows=rows,
                       acked=self.acked or kind is ActionKind.ACKNOWLEDGE)


class MessageBoard:
    """The alarm messages of the latest activation of each alarm, and the edits waiting;
    kept in `folder` when one is given (use `MessageBoard.open` for what it holds)."""

    def __init__(self, max_alarms: int = MAX_ALARMS, folder: Path | None = None) -> None:
        self._max_alarms = max_alarms
        self._by_alarm: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
        self._shown: dict[tuple[int, int], Shown] = {}
        self.edits: asyncio.Queue[Shown] = asyncio.Queue(maxsize=MAX_EDITS_WAITING)
        self.dropped_edits = 0  # edits not made: more than MAX_EDITS_WAITING waited
        self._path = None if folder is None else folder / FILE_NAME
        self._changed = False  # since the last save
        self._save_failing = False  # logs the transitions only

    @classmethod
    async def open(cls, folder: Path, max_alarms: int = MAX_ALARMS) -> MessageBoard:
        """The board saved in `folder` (empty when there is none or it cannot be read)."""
        board = cls(max_alarms, folder)
        for shown in await in_thread(_read, folder / FILE_NAME):
            board._keep(shown)
        board._changed = False
        return board

    def sent(self, recipient: str, message: RenderedMessage, remote_id: str) -> None:
        """The sender's hook: `message` is in chat `recipient` as message `remote_id`."""
        alarm = next((a.alarm for a in message.actions if a.alarm is not None), None)
        if alarm is None:
            return  # no buttons: nothing to edit later
        self._keep(Shown(int(recipient), int(remote_id), alarm, message.event_id,
                         message.language, message_text(message),
                         tuple(tuple(row) for row in keyboard(message.actions))))

    async def keep_saved(self) -> None:
        """Save the board within `SAVE_S` of each change, and once more when cancelled (a
        stop with SIGTERM keeps the last second too)."""
        try:
            while True:
                await asyncio.sleep(SAVE_S)
                if self._changed:
                    await self.save()
        finally:
            if self._changed:
                await self.save()

    async def save(self) -> None:
        """Write the board to its file now (a failure is logged, tried again later)."""
        if self._path is None:
            return
        messages = [asdict(self._shown[key]) for keys in self._by_alarm.values()
                    for key in keys]
        self._changed = False
        data = json.dumps({"version": FILE_VERSION, "messages": messages},
                          ensure_ascii=False).encode()
        try:
            await in_thread(write_atomically, self._path, data)
        except OSError as error:
            self._changed = True
            if not self._save_failing:
                logger.warning("Telegram: cannot save %s (%s): a restart would not edit "
                               "the messages sent before it", self._path, error)
            self._save_failing = True
            return
        if self._save_failing:
            logger.info("Telegram: %s saved again", self._path)
        self._save_failing = False

    def _keep(self, shown: Shown) -> None:
        keys = self._by_alarm.pop(shown.alarm, [])
        if keys and self._shown[keys[0]].event_id != shown.event_id:
            self._forget(keys)  # an older activation's: its buttons are refused anyway
            keys = []
        keys.append((shown.chat_id, shown.message_id))
        self._by_alarm[shown.alarm] = keys
        self._shown[keys[-1]] = shown
        while len(self._by_alarm) > self._max_alarms:
            _, oldest = self._by_alarm.popitem(last=False)
            self._forget(oldest)
        self._changed = True

    def shown(self, chat_id: int, message_id: int) -> Shown | None:
        return self._shown.get((chat_id, message_id))

    def mark(self, shown: Shown) -> None:
        """Keep what a message reads now, once the bot edited it."""
        key = (shown.chat_id, shown.message_id)
        if key in self._shown:
            self._shown[key] = shown
            self._changed = True

    async def alarm_events(self, events: Sequence[AlarmEvent]) -> None:
        """The alarm hub's sink: an acknowledgement's edits are queued for the bot."""
        for event in events:
            if event.kind is not EventKind.ACKNOWLEDGED:
                continue
            for key in self._by_alarm.get(event.alarm, []):
                shown = self._shown[key]
                if shown.acked:
                    continue
                line = done_line(translations(shown.language), ActionKind.ACKNOWLEDGE,
                                 event.user or "?", event.time)
                self._queue(shown.done(ActionKind.ACKNOWLEDGE, line))

    def _queue(self, shown: Shown) -> None:
        self.mark(shown)
        try:
            self.edits.put_nowait(shown)
        except asyncio.QueueFull:
            self.dropped_edits += 1
            logger.warning("Telegram: message %d of chat %d not edited to show its "
                           "acknowledgement: %d edits wait already", shown.message_id,
                           shown.chat_id, MAX_EDITS_WAITING)

    def _forget(self, keys: list[tuple[int, int]]) -> None:
        for key in keys:
            self._shown.pop(key, None)


def _read(path: Path) -> list[Shown]:
    """The messages saved at `path`, oldest alarm first; none if it is missing or not a
    board file (a WARNING then)."""
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        if data.get("version") != FILE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {FILE_VERSION}")
        return [Shown(**saved | {"rows": tuple(tuple(Button(**button) for button in row)
                                               for row in saved["rows"])})
                for saved in data["messages"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        logger.warning("Telegram: %s not read (%s): the messages sent before the start "
                       "are not edited to show an acknowledgement", path, error)
        return []
