"""The Modbus client over a real serial line: a socat pty pair with a pymodbus RTU server.

Units 1 and 3 answer, unit 2 is dead or slow: what a shared RS-485 bus looks like.
"""

from __future__ import annotations

import time

import pytest

from drivers.base import DataType, ReadBlock, Table, Tag, Unavailable
from drivers.modbus.client import DeviceSettings, open_device
from drivers.modbus.link import LinkSettings
from tests.fixtures.modbus import SerialRtuServer

SLACK_S = 0.5  # 2 noisy cores: a bound well under any timeout, not a latency figure


def device(url: str, unit: int, timeout_s: float) -> DeviceSettings:
    return DeviceSettings(LinkSettings.parse(url), unit, timeout_s)


def holding(start: int, count: int) -> ReadBlock:
    return ReadBlock(unit=0, table=Table.HOLDING, start=start, count=count)


async def test_reads_and_writes_over_the_serial_line(serial_rtu_server: SerialRtuServer) -> None:
    store = serial_rtu_server.store
    store.set(3, Table.INPUT, 0, [300, 301])
    store.set(3, Table.DISCRETE, 5, [True, False, True])
    async with open_device(device(serial_rtu_server.url, 3, 2.0)) as connection:
        assert await connection.read(ReadBlock(3, Table.INPUT, 0, 2)) == [300, 301]
        assert await connection.read(ReadBlock(3, Table.DISCRETE, 5, 3)) == [True, False, True]
        await connection.write(Tag("f", Table.HOLDING, 10, DataType.FLOAT32), [0x4049, 0x0FDB])
        await connection.write(Tag("c", Table.COIL, 2, DataType.BOOL), True)
    assert store.get(3, Table.HOLDING, 10, 2) == [0x4049, 0x0FDB]
    assert store.get(3, Table.COIL, 2) == [True]
    assert store.functions(3) == [4, 2, 16, 5]


async def test_dead_unit_costs_only_its_timeout(serial_rtu_server: SerialRtuServer) -> None:
    store = serial_rtu_server.store
    store.dead.add(2)
    url = serial_rtu_server.url
    async with (
        open_device(device(url, 1, 2.0)) as live,
        open_device(device(url, 2, 0.3)) as dead,
    ):
        for cycle in range(4):
            # A fresh value each cycle: a stale or misrouted answer would show.
            store.set(1, Table.HOLDING, 0, [cycle, 100 + cycle])
            started = time.monotonic()
            with pytest.raises(Unavailable, match="unit 2, read holding address 0 count 2: "):
                await dead.read(holding(0, 2))
            dead_s = time.monotonic() - started
            assert dead_s < 0.3 + SLACK_S
            if cycle == 0:
                assert dead_s >= 0.3  # the first request waited out its timeout
            started = time.monotonic()
            assert await live.read(holding(0, 2)) == [cycle, 100 + cycle]
            assert time.monotonic() - started < SLACK_S
        # The dead unit was asked once, then left alone while its late answer could come.
        assert store.functions(2) == [3]
        assert store.functions(1) == [3] * 4


async def test_late_answer_from_a_slow_unit_is_not_taken_for_another_units(
    serial_rtu_server: SerialRtuServer,
) -> None:
    store = serial_rtu_server.store
    store.set(1, Table.HOLDING, 0, [1, 1])
    store.set(2, Table.HOLDING, 0, [2, 2])
    store.delay_s[2] = 0.6  # unit 2 answers 0.3 s after its timeout, in the middle of...
    store.delay_s[1] = 0.6  # ...unit 1's wait for its own answer: both are on the line
    url = serial_rtu_server.url
    async with (
        open_device(device(url, 1, 3.0)) as one,
        open_device(device(url, 2, 0.3)) as two,
    ):
        with pytest.raises(Unavailable, match="no answer within 0.3 s"):
            await two.read(holding(0, 2))
        assert await one.read(holding(0, 2)) == [1, 1]
        store.delay_s.clear()
        assert await one.read(holding(0, 2)) == [1, 1]


async def test_units_on_one_port_share_the_link(serial_rtu_server: SerialRtuServer) -> None:
    url = serial_rtu_server.url
    async with (
        open_device(device(url, 1, 2.0)) as one,
        open_device(device(url, 3, 2.0)) as three,
    ):
        assert not three.connected
        await one.read(holding(0, 1))
        assert three.connected  # opened by unit 1's request: one port, one connection


async def test_one_port_cannot_be_opened_at_two_baudrates(
    serial_rtu_server: SerialRtuServer,
) -> None:
    slower = serial_rtu_server.url.replace("baudrate=115200", "baudrate=9600")
    async with open_device(device(serial_rtu_server.url, 1, 1.0)):
        with pytest.raises(ValueError, match="same physical link"):
            async with open_device(device(slower, 3, 1.0)):
                pass


async def test_missing_serial_port_is_unavailable() -> None:
    url = "modbus-rtu:///dev/ttyUSB-no-such-port"  # a serial port's name (issue #17), absent
    async with open_device(device(url, 1, 2.0)) as connection:
        started = time.monotonic()
        with pytest.raises(Unavailable, match="cannot open the link"):
            await connection.read(holding(0, 1))
        assert time.monotonic() - started < SLACK_S
        assert not connection.connected
