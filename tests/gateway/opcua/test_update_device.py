"""A device's nodes brought to an edited configuration: clients watching unchanged tags
keep their monitored items; other tags' nodes are deleted and built again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from asyncua import Client, Node, ua
from asyncua.ua.uaerrors import UaStatusCodeError

from drivers.base import DataType, Table
from gateway.config.model import DeviceConfig, GatewayConfig, TagConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import RecordingWriteHandler, Watch

TagNode = Callable[[str], Node]
WatchFactory = Callable[..., Awaitable[Watch]]

NOW = datetime(2024, 5, 17, 9, 0, tzinfo=UTC)
GONE = ua.StatusCodes.BadNodeIdUnknown
WAITING = ua.StatusCodes.BadWaitingForInitialData
TORQUE = TagConfig(name="torque", table=Table.HOLDING, address=60, type=DataType.INT32,
                   writable=True)


def good(key: str, value: Value) -> Sample:
    return Sample(key, value, Quality.GOOD, NOW)


def edited(device: DeviceConfig, tags: list[TagConfig], **fields: object) -> DeviceConfig:
    return device.model_copy(update={"tags": tags, **fields})


async def children(client: Client, server: OpcuaServer, device: str) -> set[str]:
    ns = server.namespace_index
    obj = await client.nodes.objects.get_child([f"{ns}:plant", f"{ns}:Devices", f"{ns}:{device}"])
    return {(await child.read_browse_name()).Name for child in await obj.get_children()}


async def test_unchanged_tags_keep_their_watchers_while_the_others_are_rebuilt(
    opcua_server: OpcuaServer,
    opcua_config: GatewayConfig,
    opcua_client: Client,
    tag_node: TagNode,
    watch: WatchFactory,
) -> None:
    old = opcua_config.device("pump")
    tags = {tag.name: tag for tag in old.tags}
    new = edited(old, [
        tags["pressure"],  # unchanged
        tags["speed"].model_copy(update={"address": 40, "table": Table.HOLDING}),  # Modbus only
        tags["code"].model_copy(update={"type": DataType.UINT16}),  # another DataType
        TORQUE,  # new; every other tag removed
    ])
    pressure, speed, code, level, fan = (
        tag_node(key) for key in ("pump.pressure", "pump.speed", "pump.code", "pump.level",
                                  "fan.speed")
    )
    watched = await watch([pressure, speed, code, level, fan])

    await opcua_server.update_device(old, new)

    assert (await watched.next_change(code)).StatusCode.value == GONE
    assert (await watched.next_change(level)).StatusCode.value == GONE
    opcua_server.publish([good("pump.pressure", 2.5), good("pump.speed", 1450),
                          good("pump.code", 7), good("fan.speed", 900.0)])
    assert (await watched.next_change(pressure)).Value.Value == 2.5
    assert (await watched.next_change(speed)).Value.Value == 1450
    assert (await watched.next_change(fan)).Value.Value == 900.0
    assert watched.status_changes == []

    rebuilt = await code.read_data_value()
    assert rebuilt.Value.Value == 7
    assert rebuilt.Value.VariantType == ua.VariantType.UInt16
    assert await code.read_data_type() == ua.NodeId(ua.ObjectIds.UInt16)
    gone = await level.read_data_value(raise_on_bad_status=False)
    assert gone.StatusCode.value == GONE
    added = await tag_node("pump.torque").read_data_value(raise_on_bad_status=False)
    assert added.StatusCode.value == WAITING
    assert await children(opcua_client, opcua_server, "pump") == {
        "pressure", "speed", "code", "torque", "Status",
    }
    # The kept tag's properties are still there.
    eu_range = await tag_node("pump.pressure.EURange").read_value()
    assert (eu_range.Low, eu_range.High) == (0.0, 16.0)


async def test_writes_follow_the_edited_tags(
    opcua_server: OpcuaServer,
    opcua_config: GatewayConfig,
    tag_node: TagNode,
    write_handler: RecordingWriteHandler,
) -> None:
    old = opcua_config.device("pump")
    tags = {tag.name: tag for tag in old.tags}
    new = edited(old, [tags["speed"].model_copy(update={"writable": False}), TORQUE])

    await opcua_server.update_device(old, new)

    with pytest.raises(UaStatusCodeError) as refused:
        await tag_node("pump.speed").write_value(ua.DataValue(ua.Variant(5, ua.VariantType.UInt16)))
    assert refused.value.code == ua.StatusCodes.BadNotWritable
    await tag_node("pump.torque").write_value(ua.DataValue(ua.Variant(-3, ua.VariantType.Int32)))
    assert write_handler.writes == [("pump.torque", -3)]
    with pytest.raises(UaStatusCodeError) as unknown:
        await tag_node("pump.running").write_value(
            ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
        )
    assert unknown.value.code == GONE


async def test_a_new_poll_interval_is_the_new_minimum_sampling_interval(
    opcua_server: OpcuaServer, opcua_config: GatewayConfig, tag_node: TagNode
) -> None:
    old = opcua_config.device("pump")

    await opcua_server.update_device(old, edited(old, list(old.tags), poll_interval=0.25))

    async def sampling_ms(key: str) -> float:
        value = await tag_node(key).read_attribute(ua.AttributeIds.MinimumSamplingInterval)
        return float(value.Value.Value)

    assert await sampling_ms("pump.pressure") == 250.0
    assert await sampling_ms("pump.Status.PollCount") == 250.0
    assert await sampling_ms("pump.pressure.EURange") == 0.0  # properties are set once
    assert await sampling_ms("fan.speed") == 1000.0


async def test_a_device_keeps_its_name(
    opcua_server: OpcuaServer, opcua_config: GatewayConfig
) -> None:
    old = opcua_config.device("pump")
    with pytest.raises(ValueError, match="another name"):
        await opcua_server.update_device(old, old.model_copy(update={"name": "pump2"}))
