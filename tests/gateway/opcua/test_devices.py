"""Devices added and removed while clients keep subscriptions on other devices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from asyncua import Client, Node, ua

from gateway.config.model import DeviceConfig, GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import Watch, device

TagNode = Callable[[str], Node]
WatchFactory = Callable[..., Awaitable[Watch]]

NOW = datetime(2024, 5, 17, 9, 0, tzinfo=UTC)
COMPRESSOR = DeviceConfig.model_validate(
    device(
        "compressor",
        [
            {"name": "outlet", "table": "input", "address": 0, "type": "float32", "unit": "bar"},
            {"name": "load", "table": "holding", "address": 4, "type": "uint16", "writable": True},
        ],
    )
)


def good(key: str, value: float) -> Sample:
    return Sample(key, value, Quality.GOOD, NOW)


async def device_names(client: Client, server: OpcuaServer) -> set[str]:
    ns = server.namespace_index
    folder = await client.nodes.objects.get_child([f"{ns}:plant", f"{ns}:Devices"])
    return {(await child.read_browse_name()).Name for child in await folder.get_children()}


async def test_add_device_while_another_is_watched(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode, watch: WatchFactory
) -> None:
    fan = tag_node("fan.speed")
    subscribed = await watch([fan])
    opcua_server.publish([good("fan.speed", 1000.0)])
    assert (await subscribed.next_change(fan)).Value.Value == 1000.0

    await opcua_server.add_device(COMPRESSOR)

    assert await device_names(opcua_client, opcua_server) == {"pump", "fan", "compressor"}
    outlet = tag_node("compressor.outlet")
    first = await outlet.read_data_value(raise_on_bad_status=False)
    assert first.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    opcua_server.publish([good("fan.speed", 1010.0), good("compressor.outlet", 6.5)])
    assert (await subscribed.next_change(fan)).Value.Value == 1010.0
    assert await outlet.read_value() == 6.5
    assert subscribed.status_changes == []


async def test_remove_device_while_another_is_watched(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode, watch: WatchFactory
) -> None:
    fan, pressure = tag_node("fan.speed"), tag_node("pump.pressure")
    fan_watch = await watch([fan])
    # One subscription on both devices, and one on the pump only.
    mixed_watch = await watch([fan, pressure])
    pump_watch = await watch([pressure])

    await opcua_server.remove_device("pump")

    gone = await pump_watch.next_change(pressure)
    assert gone.StatusCode.value == ua.StatusCodes.BadNodeIdUnknown
    assert (await mixed_watch.next_change(pressure)).StatusCode.value == (
        ua.StatusCodes.BadNodeIdUnknown
    )
    assert await device_names(opcua_client, opcua_server) == {"fan"}
    read_back = await pressure.read_data_value(raise_on_bad_status=False)
    assert read_back.StatusCode.value == ua.StatusCodes.BadNodeIdUnknown

    opcua_server.publish([good("fan.speed", 1200.0), good("pump.pressure", 2.0)])
    assert (await fan_watch.next_change(fan)).Value.Value == 1200.0
    assert (await mixed_watch.next_change(fan)).Value.Value == 1200.0
    # Only item-level notifications: no subscription was told it is in trouble.
    for watched in (fan_watch, mixed_watch, pump_watch):
        assert watched.status_changes == []


async def test_a_removed_device_can_come_back(
    opcua_server: OpcuaServer,
    opcua_client: Client,
    opcua_config: GatewayConfig,
    tag_node: TagNode,
    watch: WatchFactory,
) -> None:
    await opcua_server.remove_device("fan")
    await opcua_server.add_device(opcua_config.device("fan"))
    assert await device_names(opcua_client, opcua_server) == {"pump", "fan"}
    fan = tag_node("fan.speed")
    subscribed = await watch([fan])
    opcua_server.publish([good("fan.speed", 333.0)])
    assert (await subscribed.next_change(fan)).Value.Value == 333.0


async def test_removing_an_unknown_device_is_an_error(opcua_server: OpcuaServer) -> None:
    with pytest.raises(KeyError, match="boiler"):
        await opcua_server.remove_device("boiler")


async def test_the_removed_device_takes_its_writes_along(
    opcua_server: OpcuaServer, tag_node: TagNode
) -> None:
    await opcua_server.add_device(COMPRESSOR)
    await opcua_server.remove_device("compressor")
    with pytest.raises(ua.UaStatusCodeError) as refused:
        await tag_node("compressor.load").write_value(
            ua.DataValue(ua.Variant(5, ua.VariantType.UInt16))
        )
    assert refused.value.code == ua.StatusCodes.BadNodeIdUnknown
