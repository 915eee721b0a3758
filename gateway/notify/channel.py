"""A notification channel (Telegram, e-mail) as the outbox's sender sees it (issue #15).

A channel sends one rendered message to one recipient and says how it went, in three
ways only, as drivers do (style.md section 2): the remote message id when the peer took
it, `ChannelDown` when it should be tried again later (an outage, a timeout, a 429 with
its retry_after), `Undeliverable` when it never will be (an unknown chat, a refused
address). Library errors are translated at the channel's boundary; nothing else leaves.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ChannelError(Exception):
    """A message was not sent."""


class ChannelDown(ChannelError):
    """The channel cannot send now; try again after `retry_after` seconds (None: back off)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Undeliverable(ChannelError):
    """The peer refused this message for good (a bad recipient, a message it never takes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ActionKind(StrEnum):
    """The buttons a message may carry; each acts on the event it names."""

    ACKNOWLEDGE = "ack"
    SHELVE = "shelve"  # for `shelve_hours`, 8 h (issue #15)
    CONFIRMED = "confirmed"  # verdicts, once the maintenance log has them
    FALSE_ALARM = "false_alarm"


SHELVE_HOURS = 8


@dataclass(frozen=True, slots=True)
class Action:
    """One button: what it does, to which alarm event, and its label in the message's
    language."""

    kind: ActionKind
    event_id: str
    label: str
    alarm: str | None = None  # the alarm it acts on, when the event is an alarm's


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message in one language, as every channel sends it: plain text and HTML."""

    subject: str
    text: str
    html: str
    language: str
    event_id: str = ""  # the event it is about (the first one of a digest)
    actions: tuple[Action, ...] = field(default=())

    def to_json(self) -> bytes:
        """The message as the outbox stores it."""
        return json.dumps(asdict(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> RenderedMessage:
        """The message the outbox stored; ValueError if it is not one."""
        try:
            data: dict[str, Any] = json.loads(payload)
            actions = tuple(
                Action(ActionKind(a["kind"]), a["event_id"], a["label"], a.get("alarm"))
                for a in data.pop("actions", ())
            )
            return cls(**data, actions=actions)
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a stored notification: {error}") from error


class Channel(Protocol):
    """Sends rendered messages to recipients of one kind (chat ids, e-mail addresses)."""

    @property
    def name(self) -> str:
        """The channel's name, as the outbox and the status show it ("email", "telegram")."""
        ...

    async def send(self, recipient: str, message: RenderedMessage) -> str:
        """Send `message`; returns the peer's id for it. Raises ChannelDown, Undeliverable."""
        ...
