"""A request whose deadline passes just as its connection is made (issue #14).

When the event loop stalls (a busy moment, a starved machine) while a connection is being
made, the connection and the request's deadline come due in the same turn of the loop.
Python 3.11's `wait_for`, inside pymodbus's connect, then returns the connection and drops
the deadline's cancellation (CPython gh-86296, fixed in 3.12); nothing else would end the
request, which would wait pymodbus's own hour for an answer. The driver must call it a
timeout. TCP clients now give pymodbus no timeout, so its `wait_for` awaits the connection
directly and cannot drop the cancellation: the deadline then ends the request while it
waits for the answer on the connection just made ("no answer"); serial links keep the
hour and the check this test was written for.

The stall is made on the client's own loop, by the server side of the connection: the
only way to put both events into one turn deterministically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from drivers.base import ReadBlock, Table, Unavailable
from drivers.modbus.client import DeviceSettings, open_device
from drivers.modbus.link import LinkSettings
from tests.fixtures.modbus import HOST

TIMEOUT_S = 0.2
STALL_S = 0.3  # past the deadline
# A hung request would wait far longer (pymodbus's own timeout is an hour).
GIVE_UP_S = 5.0
ATTEMPTS = 5


class StallingAcceptor(asyncio.Protocol):
    """Blocks the event loop for STALL_S as each connection is accepted, then says nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        time.sleep(STALL_S)


@pytest.fixture
async def stalling_url() -> AsyncIterator[str]:
    server = await asyncio.get_running_loop().create_server(StallingAcceptor, HOST, 0)
    yield f"modbus-tcp://{HOST}:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


async def test_a_deadline_that_passes_as_the_connection_is_made_is_a_timeout(
    stalling_url: str,
) -> None:
    settings = DeviceSettings(LinkSettings.parse(stalling_url), 1, TIMEOUT_S)
    block = ReadBlock(unit=1, table=Table.HOLDING, start=0, count=1)
    for _ in range(ATTEMPTS):
        async with open_device(settings) as connection:
            with pytest.raises(
                Unavailable, match=f"(cannot connect|no answer) within {TIMEOUT_S:g} s$"
            ):
                await asyncio.wait_for(connection.read(block), GIVE_UP_S)
