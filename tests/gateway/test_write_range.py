"""A write outside a tag's `range` is BadOutOfRange, refused before Modbus is touched (#14)."""

from __future__ import annotations

import pytest
from asyncua import ua

from drivers.base import Table
from gateway.config.model import GatewayConfig
from tests.fixtures.gateway import has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT


async def test_a_write_outside_the_range_is_refused_and_the_register_unchanged(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    tag = {"name": "setpoint", "table": "holding", "address": 0, "type": "int16",
           "writable": True, "range": [0.0, 100.0]}
    config = GatewayConfig.model_validate(
        {
            "gateway": {"name": "plant"},
            "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                      "security": ["None"], "anonymous": True},
            "devices": [{"name": "dev", "url": server.url, "poll_interval": 0.2,
                         "tags": [tag]}],
        }
    )
    async with running(config) as (gateway, client):
        node = node_of(gateway, client)("dev.setpoint")
        await wait_value(node, has_status(ua.StatusCodes.Good), "first poll")
        await node.write_value(ua.Variant(100, ua.VariantType.Int16))  # the edge is inside
        assert server.get(Table.HOLDING, 0) == [100]
        for outside in (101, -1):
            with pytest.raises(ua.uaerrors.BadOutOfRange):
                await node.write_value(ua.Variant(outside, ua.VariantType.Int16))
            assert server.get(Table.HOLDING, 0) == [100]
