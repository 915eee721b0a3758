"""gateway.opcua.address_space shares the attributes nothing writes between nodes (issue
#10's footprint): a client still reads each node's own value, cannot write one, and the
attributes the gateway changes (MinimumSamplingInterval, EventNotifier) stay per node."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asyncua import ua
from asyncua.common.node import Node

from gateway.opcua import OpcuaServer

_A = ua.AttributeIds


async def test_tags_share_their_fixed_attributes_and_clients_read_them(
    opcua_server: OpcuaServer, tag_node: Callable[[str], Node]
) -> None:
    aspace = opcua_server._require_aspace()
    code, flow = (aspace[tag_node(key).nodeid].attributes for key in ("pump.code", "pump.flow"))
    for attr in (_A.NodeClass, _A.ValueRank, _A.AccessLevel, _A.WriteMask, _A.Historizing,
                 _A.Description):
        assert code[attr] is flow[attr]
    for attr in (_A.Value, _A.MinimumSamplingInterval, _A.NodeId, _A.DataType):
        assert code[attr] is not flow[attr]
    assert await tag_node("pump.code").read_data_type() == ua.NodeId(ua.ObjectIds.Int16)
    assert await tag_node("pump.flow").read_data_type() == ua.NodeId(ua.ObjectIds.Double)
    assert await tag_node("pump.running").read_attribute(_A.AccessLevel) != await tag_node(
        "pump.code"
    ).read_attribute(_A.AccessLevel)


async def test_each_tag_reads_its_own_description(tag_node: Callable[[str], Node]) -> None:
    assert await tag_node("pump.pressure").read_description() == ua.LocalizedText(
        "Discharge pressure"
    )
    for key in ("pump.code", "pump.flow"):
        assert await tag_node(key).read_description() == ua.LocalizedText("")


async def test_a_client_cannot_write_a_shared_attribute(tag_node: Callable[[str], Node]) -> None:
    before = (await tag_node("pump.flow").read_attribute(_A.AccessLevel)).Value
    written = ua.DataValue(ua.Variant(3, ua.VariantType.Byte))
    with pytest.raises(ua.UaStatusCodeError) as refused:
        await tag_node("pump.code").write_attribute(_A.AccessLevel, written)
    assert refused.value.code == ua.StatusCodes.BadUserAccessDenied
    assert (await tag_node("pump.flow").read_attribute(_A.AccessLevel)).Value == before
    assert (await tag_node("pump.code").read_attribute(_A.AccessLevel)).Value == before
