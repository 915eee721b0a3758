"""Register reads for the byte-order helper, served by a device's own poll loop against a
real pymodbus server: the loop's one connection, the driver's errors, a stopped loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from drivers.base import IllegalAddress, Table, Unavailable
from drivers.registry import DRIVERS
from gateway.config.model import DeviceConfig
from gateway.core.quality import Quality
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.runtime.fleet import DeviceFleet, UnknownDevice
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.gateway.runtime.test_poller import Recorder, make_device, u16

WAIT_S = 10.0


@asynccontextmanager
async def fleet_polling(*devices: DeviceConfig) -> AsyncIterator[tuple[DeviceFleet, Recorder]]:
    recorder = Recorder()
    fleet = DeviceFleet(DRIVERS, recorder.publish, recorder.status)
    async with asyncio.TaskGroup() as group:
        for device in devices:
            fleet.start(group, device)
        try:
            yield fleet, recorder
        finally:
            for device in devices:
                await fleet.stop(device.name)


async def test_registers_and_bits_are_read_through_the_device_loop(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 10, [0x3FC0, 0x0000])
    server.set(Table.INPUT, 5, [7, 8, 9])
    server.set(Table.COIL, 3, [True, False, True])
    server.set(Table.DISCRETE, 0, [False, True])
    async with fleet_polling(make_device(server.url, [u16("a", 0)])) as (fleet, recorder):
        await recorder.wait_quality("dev.a", Quality.GOOD)

        assert await fleet.read_registers("dev", Table.HOLDING, 10, 2) == [0x3FC0, 0]
        assert await fleet.read_registers("dev", Table.INPUT, 5, 3) == [7, 8, 9]
        assert await fleet.read_registers("dev", Table.COIL, 3, 3) == [1, 0, 1]
        assert await fleet.read_registers("dev", Table.DISCRETE, 0, 2) == [0, 1]

        # The poll loop's connection, no second client.
        assert server.connections == 1
        assert set(server.store.functions(1)) == {1, 2, 3, 4}


async def test_the_device_answers_arrive_as_the_drivers_errors(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.fault(Table.HOLDING, 500, 2)
    async with fleet_polling(make_device(server.url, [u16("a", 0)])) as (fleet, recorder):
        await recorder.wait_quality("dev.a", Quality.GOOD)
        with pytest.raises(IllegalAddress):
            await fleet.read_registers("dev", Table.HOLDING, 499, 3)
        with pytest.raises(ValueError, match="count must be 1..125"):
            await fleet.read_registers("dev", Table.HOLDING, 0, 126)
        with pytest.raises(ValueError, match="past address 65535"):
            await fleet.read_registers("dev", Table.INPUT, 65535, 2)

        await server.stop()
        with pytest.raises(Unavailable):
            await fleet.read_registers("dev", Table.HOLDING, 0, 1)
        # The loop goes on polling (and failing) after each answer it passed on.
        await recorder.wait_quality("dev.a", Quality.COMM_ERROR)


async def test_an_unknown_or_disabled_device_is_refused(
    modbus_tcp_server: PymodbusServer,
) -> None:
    disabled = make_device(modbus_tcp_server.url, [u16("a", 0)]).model_copy(
        update={"name": "off", "enabled": False}
    )
    async with fleet_polling(disabled) as (fleet, _):
        for name in ("off", "boiler"):
            with pytest.raises(UnknownDevice, match=f"device '{name}' is not polled") as refused:
                await fleet.read_registers(name, Table.HOLDING, 0, 1)
            assert isinstance(refused.value, KeyError)
            assert str(refused.value) == f"device {name!r} is not polled"


async def test_requests_still_waiting_when_the_loop_stops_fail(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.store.dead.add(1)  # never answers: the loop waits out its long timeout
    device = make_device(server.url, [u16("a", 0, writable=True)], timeout=30.0,
                         poll_interval=3600.0)
    recorder = Recorder()
    fleet = DeviceFleet(DRIVERS, recorder.publish, recorder.status)
    async with asyncio.TaskGroup() as group:
        fleet.start(group, device)
        # Outside the group: their failures are what the test looks at.
        read = asyncio.create_task(fleet.read_registers("dev", Table.HOLDING, 0, 1))
        write = asyncio.create_task(fleet.write("dev.a", 5))
        # The loop is stuck on a request to the dead unit: a poll or the read itself.
        await wait_until(lambda: server.store.functions(1) != [], WAIT_S, "a request")

        await fleet.stop("dev")

        with pytest.raises(Unavailable, match="dev: the device loop stopped"):
            await read
        with pytest.raises(WriteFailure, match="the device loop stopped") as failed:
            await write
        assert failed.value.reason is WriteFailureReason.COMM_ERROR
