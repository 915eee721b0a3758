"""A message's actions as inline buttons, and a press back to its alarm."""

from __future__ import annotations

import uuid

from gateway.notify.channel import Action, ActionKind
from gateway.notify.telegram.bot_api import Button
from gateway.notify.telegram.buttons import event_digest, keyboard, parse, without

LONG_NAME = "plant_a.compressor_station_7.discharge_temperature_very_high_xyz" + "x" * 10


def _actions(alarm: str | None, event: str) -> list[Action]:
    return [Action(kind, event, kind.value.upper(), alarm) for kind in ActionKind]


def test_every_button_fits_telegram_and_comes_back_as_its_press() -> None:
    event = str(uuid.uuid4())
    rows = keyboard(_actions(LONG_NAME, event))
    assert [[b.text for b in row] for row in rows] == [["ACK", "SHELVE"],
                                                       ["CONFIRMED", "FALSE_ALARM"]]
    for row, kinds in zip(rows, [(ActionKind.ACKNOWLEDGE, ActionKind.SHELVE),
                                 (ActionKind.CONFIRMED, ActionKind.FALSE_ALARM)], strict=True):
        for button, kind in zip(row, kinds, strict=True):
            assert len(button.data.encode()) <= 64
            press = parse(button.data)
            assert press is not None
            assert press.kind is kind
            assert press.event == event_digest(event)
            assert press.alarm_among(["other", LONG_NAME]) == LONG_NAME
            assert press.alarm_among(["other"]) is None


def test_actions_without_an_alarm_get_no_button() -> None:
    assert keyboard(_actions(None, "e")) == []


def test_data_that_is_not_ours_is_no_press() -> None:
    for data in (None, "", "x:1:2", "a::2", "a:1:", "a"):
        assert parse(data) is None


def test_the_buttons_left_after_an_action() -> None:
    rows = keyboard(_actions("pump.hot", "e"))
    assert _labels(without(rows, ActionKind.ACKNOWLEDGE)) == [["SHELVE"],
                                                              ["CONFIRMED", "FALSE_ALARM"]]
    assert _labels(without(rows, ActionKind.FALSE_ALARM)) == [["ACK", "SHELVE"]]
    assert _labels(without([[Button("foreign", "zz")]], ActionKind.SHELVE)) == [["foreign"]]


def _labels(rows: list[list[Button]]) -> list[list[str]]:
    return [[button.text for button in row] for row in rows]
