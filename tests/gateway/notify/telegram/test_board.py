"""The alarm messages sent, as they read now: an acknowledgement from anywhere shows on
each message of its alarm, once (gateway/notify/telegram/board.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.core.quality import Quality
from gateway.notify.channel import Action, ActionKind, RenderedMessage
from gateway.notify.telegram.board import MessageBoard

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def _message(alarm: str | None, event_id: str, language: str = "en") -> RenderedMessage:
    actions = () if alarm is None else tuple(
        Action(kind, event_id, kind.value, alarm) for kind in ActionKind)
    return RenderedMessage(subject="plant: Alarm", text="plant: Alarm\nValue: 12.5",
                           html="", language=language, event_id=event_id, actions=actions)


def _acknowledged(alarm: str, user: str = "olga") -> AlarmEvent:
    return AlarmEvent(kind=EventKind.ACKNOWLEDGED, alarm=alarm, source="pump.p", time=T0,
                      active=True, acked=True, shelved=False, severity=800, value=12.5,
                      limit=10.0, quality=Quality.GOOD, message="", user=user,
                      comment="", id=uuid.uuid4())


async def test_an_acknowledgement_edits_every_message_of_its_alarm_once() -> None:
    board = MessageBoard()
    board.sent("-1", _message("hot", "e1"), "10")
    board.sent("-2", _message("hot", "e1", language="ru"), "20")
    board.sent("-1", _message("cold", "e2"), "11")
    board.sent("-1", _message(None, "digest-e3"), "12")  # no buttons: never edited
    await board.alarm_events([_acknowledged("hot")])
    await board.alarm_events([_acknowledged("hot")])  # once only
    edits = [board.edits.get_nowait() for _ in range(board.edits.qsize())]
    assert [(e.chat_id, e.message_id) for e in edits] == [(-1, 10), (-2, 20)]
    english, russian = edits
    assert english.text.startswith("plant: Alarm\nValue: 12.5\n\n✅ Acknowledged by olga at ")
    assert "✅ Квитировал(а) olga в " in russian.text
    assert [[b.text for b in row] for row in english.rows] == [["shelve"],
                                                               ["confirmed", "false_alarm"]]
    shown = board.shown(-1, 10)
    assert shown is not None
    assert shown.acked is True


async def test_a_new_activation_replaces_the_messages_of_the_former() -> None:
    board = MessageBoard(max_alarms=2)
    board.sent("-1", _message("hot", "e1"), "10")
    board.sent("-1", _message("hot", "e2"), "11")
    assert board.shown(-1, 10) is None
    board.sent("-1", _message("cold", "e3"), "12")
    board.sent("-1", _message("wet", "e4"), "13")  # a third alarm: the oldest is forgotten
    assert board.shown(-1, 11) is None
    await board.alarm_events([_acknowledged("hot")])
    assert board.edits.empty()
