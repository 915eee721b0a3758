"""Published samples and device status as a subscribed client sees them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, Node, ua

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.status import DeviceStatus
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import Watch

TagNode = Callable[[str], Node]
WatchFactory = Callable[..., Awaitable[Watch]]

SOURCE_TIME = datetime(2024, 5, 17, 8, 30, 12, 345678, tzinfo=UTC)

# One value per data type, with the built-in type it must arrive as.
TYPED_VALUES: list[tuple[str, Value, ua.VariantType]] = [
    ("pump.pressure", 3.5, ua.VariantType.Float),
    ("pump.speed", 1480, ua.VariantType.UInt16),
    ("pump.temperature", 21.7, ua.VariantType.Double),
    ("pump.level", -5, ua.VariantType.Int32),
    ("pump.starts", 4_000_000_000, ua.VariantType.UInt32),
    ("pump.energy", 2**63 + 5, ua.VariantType.UInt64),
    ("pump.position", -(2**40), ua.VariantType.Int64),
    ("pump.flow", 12.25, ua.VariantType.Double),
    ("pump.running", True, ua.VariantType.Boolean),
    ("pump.serial", "SN-0042", ua.VariantType.String),
    ("pump.code", -7, ua.VariantType.Int16),
]


def sample(
    key: str, value: Value, quality: Quality = Quality.GOOD, at: datetime = SOURCE_TIME
) -> Sample:
    return Sample(key=key, value=value, quality=quality, source_time=at)


async def test_published_values_reach_a_subscriber_with_their_type_and_timestamps(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    nodes = {key: tag_node(key) for key, _, _ in TYPED_VALUES}
    subscribed = await watch(list(nodes.values()))
    before = datetime.now(UTC)
    opcua_server.publish([sample(key, value) for key, value, _ in TYPED_VALUES])
    for key, value, vtype in TYPED_VALUES:
        data_value = await subscribed.next_change(nodes[key])
        assert data_value.StatusCode.is_good(), key
        assert data_value.Value.VariantType == vtype, key
        assert data_value.Value.Value == value, key  # all exact in their float width
        assert data_value.SourceTimestamp == SOURCE_TIME, key
        assert data_value.ServerTimestamp is not None
        assert before - timedelta(seconds=1) <= data_value.ServerTimestamp <= datetime.now(UTC)


async def test_read_returns_the_published_value(
    opcua_server: OpcuaServer, tag_node: TagNode
) -> None:
    opcua_server.publish([sample("pump.speed", 900)])
    data_value = await tag_node("pump.speed").read_data_value()
    assert data_value.Value == ua.Variant(900, ua.VariantType.UInt16)
    assert data_value.SourceTimestamp == SOURCE_TIME


async def test_a_read_follows_each_new_value(
    opcua_server: OpcuaServer, tag_node: TagNode
) -> None:
    node = tag_node("pump.speed")
    waiting = await node.read_data_value(raise_on_bad_status=False)
    assert waiting.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    for speed in (900, 901):
        opcua_server.publish([sample("pump.speed", speed)])
        # Read twice: the DataValue a read makes is kept until the next value, not longer.
        for _ in range(2):
            data_value = await node.read_data_value()
            assert data_value.Value == ua.Variant(speed, ua.VariantType.UInt16)
            assert data_value.StatusCode.is_good()
            assert data_value.ServerTimestamp is not None


async def test_integer_values_are_accepted_for_float_tags(
    opcua_server: OpcuaServer, tag_node: TagNode
) -> None:
    opcua_server.publish([sample("pump.pressure", 3)])
    data_value = await tag_node("pump.pressure").read_data_value()
    assert data_value.Value == ua.Variant(3.0, ua.VariantType.Float)


async def test_last_usable_keeps_the_value_with_an_uncertain_status(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    node = tag_node("pump.pressure")
    subscribed = await watch([node])
    opcua_server.publish([sample("pump.pressure", 4.25)])
    assert (await subscribed.next_change(node)).StatusCode.is_good()
    stale_at = SOURCE_TIME + timedelta(seconds=5)
    opcua_server.publish([sample("pump.pressure", 4.25, Quality.LAST_USABLE, stale_at)])
    data_value = await subscribed.next_change(node)
    assert data_value.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert data_value.Value == ua.Variant(4.25, ua.VariantType.Float)
    assert data_value.SourceTimestamp == stale_at


@pytest.mark.parametrize(
    ("quality", "code"),
    [
        (Quality.COMM_ERROR, ua.StatusCodes.BadCommunicationError),
        (Quality.DEVICE_ERROR, ua.StatusCodes.BadDeviceFailure),
        (Quality.CONFIG_ERROR, ua.StatusCodes.BadConfigurationError),
        (Quality.WAITING, ua.StatusCodes.BadWaitingForInitialData),
    ],
)
async def test_bad_qualities_carry_their_status_and_no_value(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory, quality: Quality, code: int
) -> None:
    node = tag_node("pump.flow")
    subscribed = await watch([node])
    opcua_server.publish([sample("pump.flow", 7.5)])
    assert (await subscribed.next_change(node)).Value.Value == 7.5
    failed_at = SOURCE_TIME + timedelta(seconds=30)
    # The runtime may still pass the last value along: a Bad status drops it (Part 4 §7.7.1).
    opcua_server.publish([sample("pump.flow", 7.5, quality, failed_at)])
    data_value = await subscribed.next_change(node)
    assert data_value.StatusCode.value == code
    assert data_value.Value.Value is None
    assert data_value.SourceTimestamp == failed_at
    read_back = await node.read_data_value(raise_on_bad_status=False)
    assert read_back.StatusCode.value == code


async def test_mistyped_values_are_a_bug(opcua_server: OpcuaServer) -> None:
    with pytest.raises(TypeError, match="UInt16"):
        opcua_server.publish([sample("pump.speed", 1.5)])
    with pytest.raises(TypeError, match="Boolean"):
        opcua_server.publish([sample("pump.running", 1)])
    with pytest.raises(TypeError, match="Double"):
        opcua_server.publish([sample("pump.flow", None)])


async def test_unknown_keys_are_ignored_and_reported_once(
    opcua_server: OpcuaServer, tag_node: TagNode, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.opcua.server"):
        opcua_server.publish([sample("pump.nothing", 1.0), sample("pump.speed", 12)])
        opcua_server.publish([sample("pump.nothing", 2.0)])
    assert [r.getMessage() for r in caplog.records].count(
        "publish for 'pump.nothing', which is not in the address space: ignored"
    ) == 1
    assert (await tag_node("pump.speed").read_value()) == 12


async def status_nodes(client: Client, server: OpcuaServer, device: str) -> dict[str, Node]:
    ns = server.namespace_index
    names = ("Connected", "LastError", "PollCount", "ErrorCount", "RoundTripTime", "Overruns")
    return {name: client.get_node(ua.NodeId(f"{device}.Status.{name}", ns)) for name in names}


async def test_device_status_updates_the_status_object(
    opcua_server: OpcuaServer, opcua_client: Client, watch: WatchFactory
) -> None:
    nodes = await status_nodes(opcua_client, opcua_server, "pump")
    subscribed = await watch([nodes["PollCount"], nodes["Connected"]])
    opcua_server.publish_status(
        DeviceStatus(
            device="pump",
            connected=True,
            last_error="",
            poll_count=42,
            error_count=3,
            round_trip_s=0.0125,
            overruns=2,
        )
    )
    assert (await subscribed.next_change(nodes["PollCount"])).Value == ua.Variant(
        42, ua.VariantType.UInt64
    )
    assert (await subscribed.next_change(nodes["Connected"])).Value.Value is True
    values = await opcua_client.read_values(list(nodes.values()))
    assert values == [True, "", 42, 3, 12.5, 2]  # round trip in milliseconds

    opcua_server.publish_status(
        DeviceStatus(
            device="pump",
            connected=False,
            last_error="timed out after 1.0 s",
            poll_count=43,
            error_count=4,
            round_trip_s=None,
        )
    )
    assert (await subscribed.next_change(nodes["PollCount"])).Value.Value == 43
    assert await nodes["LastError"].read_value() == "timed out after 1.0 s"
    round_trip = await nodes["RoundTripTime"].read_data_value(raise_on_bad_status=False)
    assert round_trip.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData


async def test_a_status_variable_keeps_its_timestamp_until_its_field_changes(
    opcua_server: OpcuaServer, opcua_client: Client, watch: WatchFactory
) -> None:
    nodes = await status_nodes(opcua_client, opcua_server, "pump")
    subscribed = await watch([nodes["PollCount"]])
    opcua_server.publish_status(DeviceStatus("pump", True, "", 1, 0, 0.002))
    assert (await subscribed.next_change(nodes["PollCount"])).Value.Value == 1
    first = await nodes["Connected"].read_data_value()

    # The next cycle's status: only the poll count and the round trip differ.
    opcua_server.publish_status(DeviceStatus("pump", True, "", 2, 0, 0.003))
    assert (await subscribed.next_change(nodes["PollCount"])).Value.Value == 2
    connected = await nodes["Connected"].read_data_value()
    assert connected.Value.Value is True
    assert connected.SourceTimestamp == first.SourceTimestamp
    assert await nodes["RoundTripTime"].read_value() == 3.0


async def test_status_of_one_device_leaves_the_others_alone(
    opcua_server: OpcuaServer, opcua_client: Client
) -> None:
    opcua_server.publish_status(DeviceStatus("fan", True, "", 1, 0, 0.002))
    pump = await status_nodes(opcua_client, opcua_server, "pump")
    connected = await pump["Connected"].read_data_value(raise_on_bad_status=False)
    assert connected.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    fan = await status_nodes(opcua_client, opcua_server, "fan")
    assert await fan["Connected"].read_value() is True
