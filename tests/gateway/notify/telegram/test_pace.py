"""Telegram's limits before each send: one message a second per chat, 30 a second overall,
and a 429's retry_after, on a logical clock."""

from __future__ import annotations

import asyncio

import pytest

from gateway.notify.telegram.pace import Pace
from tests.gateway.notify.telegram.logical_time import LogicalTime


def _paced() -> tuple[Pace, LogicalTime]:
    time = LogicalTime()
    return Pace(time.monotonic, time.sleep), time


async def test_one_chat_gets_one_message_a_second() -> None:
    pace, time = _paced()
    turns = []
    for _ in range(5):
        async with pace.turn(7):
            pass
        turns.append(time.now)
    assert turns == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_many_chats_share_thirty_a_second() -> None:
    pace, time = _paced()
    turns = []
    for chat in range(90):
        async with pace.turn(chat):
            pass
        turns.append(time.now)
    assert turns[-1] == pytest.approx(89 / 30)
    # No second holds more than 30 sends (1e-9: the sum of 30 steps of 1/30 in floats).
    assert max(sum(start <= t < start + 1.0 - 1e-9 for t in turns) for start in turns) == 30


async def test_concurrent_senders_take_turns_in_order() -> None:
    pace, time = _paced()
    turns: list[float] = []

    async def send() -> None:
        async with pace.turn(1):
            turns.append(time.now)

    await asyncio.gather(*(send() for _ in range(4)))
    assert turns == [0.0, 1.0, 2.0, 3.0]


async def test_the_next_turn_counts_from_the_end_of_a_send() -> None:
    pace, time = _paced()
    async with pace.turn(1):
        await time.sleep(0.4)  # the request takes its time on the network
    async with pace.turn(1):
        assert time.now == 1.4


async def test_a_429_holds_its_chat_or_everyone() -> None:
    pace, time = _paced()
    async with pace.turn(1):
        pass
    pace.hold(1, 12.0)
    async with pace.turn(2):  # another chat is not held
        assert time.now == pytest.approx(OVERALL_STEP)
    async with pace.turn(1):
        assert time.now == 12.0
    pace.hold(None, 5.0)
    async with pace.turn(3):
        pass
    assert time.now == 17.0
    assert pace.waited_s == 17.0


OVERALL_STEP = 1.0 / 30
