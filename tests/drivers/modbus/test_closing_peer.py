"""A device that closes connections as soon as it accepts them (issue #14, fault suite).

Modbus TCP devices and serial gateways with all their connection slots taken do exactly
this; so does a device still booting. The close can land while the client is still
connecting: pymodbus 3.16 then keeps the already closed transport as its connection
(`ModbusProtocol.connect` assigns it after `connection_lost` cleared it), reports itself
connected for good, and every later request is written into the closed socket and waits
out its whole timeout, even once the device accepts connections again. The driver must
fail such a request at once and connect afresh on the next.

The peer closes from its own thread (`bad_peers.BadPeers`), as a real device does on its
own CPU: on the client's loop the close could never overtake the connect.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from drivers.base import ReadBlock, Table, Unavailable
from drivers.modbus.client import DeviceSettings, open_device
from drivers.modbus.link import LinkSettings
from tests.gateway.runtime.bad_peers import BadPeers, closes_first

TIMEOUT_S = 5.0
# Far under TIMEOUT_S: a request on a wedged link would wait all of it.
FAST_S = 1.0
WORD = 0x1234
CLOSES = 20  # connections closed on accept before the device serves
CLIENT_LOGGER = "drivers.modbus.client"


async def test_connections_closed_on_accept_fail_fast_and_the_link_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CLIENT_LOGGER)
    async with BadPeers({"device": closes_first(CLOSES, WORD)}) as peers:
        settings = DeviceSettings(LinkSettings.parse(peers.url("device")), 1, TIMEOUT_S)
        block = ReadBlock(unit=1, table=Table.HOLDING, start=0, count=2)
        async with open_device(settings) as connection:
            loop = asyncio.get_running_loop()
            for attempt in range(CLOSES):
                started = loop.time()
                with pytest.raises(Unavailable) as caught:
                    await connection.read(block)
                took_s = loop.time() - started
                assert took_s < FAST_S, (attempt, took_s, str(caught.value))
                assert "connection lost" in str(caught.value), caught.value
            assert await asyncio.wait_for(connection.read(block), FAST_S) == [WORD, WORD]
    # One transition each way, however many connections the device dropped: it is up only
    # once it answers.
    ours = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == CLIENT_LOGGER]
    assert [level for level, _ in ours] == ["WARNING", "INFO"], ours
    assert ours[0][1].endswith(" down: connection lost")
    assert " recovered after " in ours[1][1]
