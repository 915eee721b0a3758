"""A message's actions as inline buttons, and a press back into what it asks (issue #15).

Telegram hands a press back with the button's `callback_data`, at most 64 bytes, while an
alarm's name may take 64 characters and an event id 36. So a button carries digests:
`<action>:<event>:<alarm>`, the action's one letter, 8 bytes of BLAKE2b of the event id
and 12 of the alarm's name (base64url). The gateway finds the alarm by comparing digests
of the alarm names it has; nothing is stored per message, so a restart loses no button.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.notify.channel import Action, ActionKind
from gateway.notify.telegram.bot_api import CALLBACK_DATA_MAX_BYTES, Button

_LETTERS = {ActionKind.ACKNOWLEDGE: "a", ActionKind.SHELVE: "s",
            ActionKind.CONFIRMED: "c", ActionKind.FALSE_ALARM: "f"}
_KINDS = {letter: kind for kind, letter in _LETTERS.items()}
VERDICTS = (ActionKind.CONFIRMED, ActionKind.FALSE_ALARM)


def digest(text: str, size: int) -> str:
    """`size` bytes of BLAKE2b of `text`, base64url without padding."""
    raw = hashlib.blake2b(text.encode(), digest_size=size).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def event_digest(event_id: str) -> str:
    return digest(event_id, 8)


def alarm_digest(alarm: str) -> str:
    return digest(alarm, 12)


@dataclass(frozen=True, slots=True)
class Press:
    """What a pressed button asks: an action on the alarm event whose digests it holds."""

    kind: ActionKind
    event: str  # event_digest of the event the message was about
    alarm: str  # alarm_digest of the alarm's name

    def alarm_among(self, names: Iterable[str]) -> str | None:
        """The name of the alarm this press is about, among `names`; None if gone."""
        return next((name for name in names if alarm_digest(name) == self.alarm), None)


def keyboard(actions: Sequence[Action]) -> list[list[Button]]:
    """The buttons of a message's actions: the alarm actions on a row, the verdicts on the
    next. Actions without an alarm have no button (nothing to act on)."""
    first = [_button(a) for a in actions if a.alarm is not None and a.kind not in VERDICTS]
    second = [_button(a) for a in actions if a.alarm is not None and a.kind in VERDICTS]
    return [row for row in (first, second) if row]


def _button(action: Action) -> Button:
    assert action.alarm is not None  # noqa: S101 - filtered by the caller
    data = f"{_LETTERS[action.kind]}:{event_digest(action.event_id)}:{alarm_digest(action.alarm)}"
    assert len(data.encode()) <= CALLBACK_DATA_MAX_BYTES  # noqa: S101 - fixed sizes above
    return Button(action.label, data)


def parse(data: str | None) -> Press | None:
    """The press a button's data asks for; None when it is none of ours."""
    letter, _, rest = (data or "").partition(":")
    event, _, alarm = rest.partition(":")
    kind = _KINDS.get(letter)
    if kind is None or not event or not alarm:
        return None
    return Press(kind, event, alarm)


def without(rows: Sequence[Sequence[Button]], done: ActionKind) -> list[list[Button]]:
    """The buttons left once `done` was done: its own (both verdicts for a verdict)."""
    gone = set(VERDICTS) if done in VERDICTS else {done}
    kept = [[b for b in row if (p := parse(b.data)) is None or p.kind not in gone]
            for row in rows]
    return [row for row in kept if row]
