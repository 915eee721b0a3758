"""The alarm messages sent, as they read now: an acknowledgement from anywhere shows on
each message of its alarm, once (gateway/notify/telegram/board.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.core.quality import Quality
from gateway.notify.channel import Action, ActionKind, RenderedMessage
from gateway.notify.telegram.board import FILE_NAME, MessageBoard
from tests.fixtures.disk import SmallDisk
from tests.fixtures.modbus import wait_until

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


async def test_the_board_is_saved_and_an_acknowledgement_after_a_restart_edits_it(
    tmp_path: Path
) -> None:
    board = await MessageBoard.open(tmp_path)
    board.sent("-1", _message("hot", "e1"), "10")
    board.sent("-2", _message("hot", "e1", language="ru"), "20")
    board.sent("-1", _message("cold", "e2"), "11")
    saving = asyncio.create_task(board.keep_saved())
    try:
        await wait_until(lambda: (tmp_path / FILE_NAME).exists(), 5.0, "the board saved")
    finally:
        saving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saving
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600

    again = await MessageBoard.open(tmp_path)  # the gateway restarted
    await again.alarm_events([_acknowledged("hot")])
    edits = [again.edits.get_nowait() for _ in range(again.edits.qsize())]
    assert [(e.chat_id, e.message_id) for e in edits] == [(-1, 10), (-2, 20)]
    assert "✅ Квитировал(а) olga в " in edits[1].text
    assert [[b.text for b in row] for row in edits[0].rows] == [["shelve"],
                                                                ["confirmed", "false_alarm"]]
    # What the edit made of them is kept too, once saved: not edited twice.
    await again.save()
    third = await MessageBoard.open(tmp_path)
    await third.alarm_events([_acknowledged("hot")])
    assert third.edits.empty()
    assert third.shown(-1, 11) is not None


async def test_a_board_file_that_cannot_be_read_starts_an_empty_board(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_text('{"version": 1, "messages": [{"chat_id": 1}]}')
    board = await MessageBoard.open(tmp_path)
    assert board.shown(1, 0) is None
    assert "are not edited to show an acknowledgement" in caplog.text


async def test_a_save_that_fails_is_made_again_once_there_is_space(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    folder = small_disk.path / "telegram"
    board = await MessageBoard.open(folder)
    board.sent("-1", _message("hot", "e1"), "10")
    small_disk.fill()
    await board.save()
    assert "cannot save" in caplog.text
    small_disk.free()
    await board.save()  # as `keep_saved` does: the failed save left the board changed
    assert (await MessageBoard.open(folder)).shown(-1, 10) is not None
