"""[opcua] max_monitored_items_per_session (issue #14): one session cannot take the whole
server's monitored items."""

from __future__ import annotations

import pytest
from asyncua import Client

from gateway.config.model import GatewayConfig
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import WAIT_S
from tests.gateway.opcua.test_limits import codes, create_items, limited_config, pump, subscribe


@pytest.fixture
def opcua_config() -> GatewayConfig:
    return limited_config(max_monitored_items=10, max_monitored_items_per_session=3)


async def test_items_beyond_the_session_limit_are_refused_others_still_served(
    opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    first = await subscribe(opcua_client)
    second = await subscribe(opcua_client)  # the limit counts every subscription of the session

    assert codes(await create_items(opcua_client, first, pump(opcua_server, 2))) == ["Good"] * 2
    more = await create_items(opcua_client, second, pump(opcua_server, 2), first_handle=10)
    assert codes(more) == ["Good", "BadTooManyMonitoredItems"]
    async with Client(opcua_server.endpoint_url, timeout=WAIT_S) as other:
        theirs = await create_items(other, await subscribe(other), pump(opcua_server, 3))
        assert codes(theirs) == ["Good"] * 3
