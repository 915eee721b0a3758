"""Client writes: routed to the runtime's handler, its verdict returned to the client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from asyncua import Client, Node, ua
from asyncua.ua.uaerrors import UaStatusCodeError

from gateway.core.sample import Value
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import WAIT_S, RecordingWriteHandler

TagNode = Callable[[str], Node]


def variant(value: Value, vtype: ua.VariantType) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vtype))


async def write_status(node: Node, value: ua.DataValue) -> int:
    """The StatusCode the server returns for writing `value` to `node`."""
    try:
        await node.write_value(value)
    except UaStatusCodeError as error:
        return error.code
    return ua.StatusCodes.Good


@pytest.mark.parametrize(
    ("key", "value", "vtype"),
    [
        ("pump.speed", 1200, ua.VariantType.UInt16),
        ("pump.running", True, ua.VariantType.Boolean),
    ],
)
async def test_a_write_reaches_the_handler_and_returns_good(
    tag_node: TagNode,
    write_handler: RecordingWriteHandler,
    key: str,
    value: Value,
    vtype: ua.VariantType,
) -> None:
    assert await write_status(tag_node(key), variant(value, vtype)) == ua.StatusCodes.Good
    assert write_handler.writes == [(key, value)]


async def test_the_client_waits_for_the_device(
    tag_node: TagNode, write_handler: RecordingWriteHandler
) -> None:
    write_handler.gate = asyncio.Event()
    node = tag_node("pump.speed")
    write = asyncio.create_task(write_status(node, variant(5, ua.VariantType.UInt16)))
    await asyncio.wait_for(write_handler.called.wait(), WAIT_S)
    assert not write.done()  # the device has not answered: neither has the server
    write_handler.gate.set()
    assert await asyncio.wait_for(write, WAIT_S) == ua.StatusCodes.Good
    assert write_handler.writes == [("pump.speed", 5)]


async def test_the_write_does_not_store_the_value(
    opcua_server: OpcuaServer, tag_node: TagNode
) -> None:
    node = tag_node("pump.speed")
    await node.write_value(variant(700, ua.VariantType.UInt16))
    data_value = await node.read_data_value(raise_on_bad_status=False)
    assert data_value.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    assert data_value.Value.Value is None


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (WriteFailureReason.OUT_OF_RANGE, ua.StatusCodes.BadOutOfRange),
        (WriteFailureReason.TYPE_MISMATCH, ua.StatusCodes.BadTypeMismatch),
        (WriteFailureReason.COMM_ERROR, ua.StatusCodes.BadCommunicationError),
        (WriteFailureReason.DEVICE_ERROR, ua.StatusCodes.BadDeviceFailure),
        (WriteFailureReason.CONFIG_ERROR, ua.StatusCodes.BadConfigurationError),
        (WriteFailureReason.NOT_WRITABLE, ua.StatusCodes.BadNotWritable),
        (WriteFailureReason.UNKNOWN_TAG, ua.StatusCodes.BadNodeIdUnknown),
    ],
)
async def test_handler_failures_map_to_bad_status_codes(
    tag_node: TagNode, write_handler: RecordingWriteHandler, reason: WriteFailureReason, code: int
) -> None:
    write_handler.failure = WriteFailure(reason, "refused in test")
    status = await write_status(tag_node("pump.speed"), variant(65000, ua.VariantType.UInt16))
    assert status == code
    assert write_handler.writes == [("pump.speed", 65000)]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pump.pressure", variant(1.0, ua.VariantType.Float)),  # read-only tag
        ("pump.Status.Connected", variant(True, ua.VariantType.Boolean)),
        ("pump.pressure.EURange", variant(ua.Range(0.0, 1.0), ua.VariantType.ExtensionObject)),
    ],
)
async def test_read_only_nodes_refuse_writes(
    tag_node: TagNode, write_handler: RecordingWriteHandler, key: str, value: ua.DataValue
) -> None:
    assert await write_status(tag_node(key), value) == ua.StatusCodes.BadNotWritable
    assert write_handler.writes == []


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (variant(1200.0, ua.VariantType.Double), ua.StatusCodes.BadTypeMismatch),
        (variant(1200, ua.VariantType.Int32), ua.StatusCodes.BadTypeMismatch),
        (variant([1, 2], ua.VariantType.UInt16), ua.StatusCodes.BadTypeMismatch),
        (ua.DataValue(ua.Variant(None, ua.VariantType.Null)), ua.StatusCodes.BadTypeMismatch),
        (
            ua.DataValue(
                ua.Variant(1200, ua.VariantType.UInt16),
                StatusCode=ua.StatusCode(ua.StatusCodes.BadDeviceFailure),
            ),
            ua.StatusCodes.BadWriteNotSupported,
        ),
    ],
)
async def test_malformed_writes_never_reach_the_device(
    tag_node: TagNode, write_handler: RecordingWriteHandler, value: ua.DataValue, code: int
) -> None:
    assert await write_status(tag_node("pump.speed"), value) == code
    assert write_handler.writes == []


async def test_unknown_node_in_our_namespace(tag_node: TagNode) -> None:
    status = await write_status(tag_node("pump.nothing"), variant(1, ua.VariantType.UInt16))
    assert status == ua.StatusCodes.BadNodeIdUnknown


async def test_one_request_gets_one_verdict_per_item(
    opcua_client: Client, tag_node: TagNode, write_handler: RecordingWriteHandler
) -> None:
    results = await opcua_client.write_values(
        [tag_node("pump.speed"), tag_node("pump.pressure"), tag_node("pump.running")],
        [
            variant(10, ua.VariantType.UInt16),
            variant(2.0, ua.VariantType.Float),
            variant(False, ua.VariantType.Boolean),
        ],
        raise_on_partial_error=False,
    )
    assert [r.value for r in results] == [
        ua.StatusCodes.Good,
        ua.StatusCodes.BadNotWritable,
        ua.StatusCodes.Good,
    ]
    assert write_handler.writes == [("pump.speed", 10), ("pump.running", False)]


async def test_other_attributes_stay_under_asyncua_access_rules(
    tag_node: TagNode, write_handler: RecordingWriteHandler
) -> None:
    node = tag_node("pump.speed")
    with pytest.raises(UaStatusCodeError) as refused:
        await node.write_attribute(
            ua.AttributeIds.DisplayName,
            ua.DataValue(ua.Variant(ua.LocalizedText("renamed"), ua.VariantType.LocalizedText)),
        )
    assert refused.value.code == ua.StatusCodes.BadUserAccessDenied
    assert (await node.read_display_name()).Text == "speed"
    assert write_handler.writes == []
