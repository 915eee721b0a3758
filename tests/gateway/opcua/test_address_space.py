"""The address space as a client browses and reads it.

These tests only read, so one server and client serve the whole module (starting an
asyncua server costs about a second); the tests that start their own server say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import urlparse

import pytest
import pytest_asyncio
from asyncua import Client, Node, ua

from gateway.config.model import GatewayConfig
from gateway.opcua import OpcuaServer
from gateway.opcua.units import UNECE_NAMESPACE
from tests.fixtures.opcua import (
    FAN_TAGS,
    PUMP_TAGS,
    RecordingWriteHandler,
    device,
    make_config,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CEFACT_BAR = 4342098
CEFACT_RPM = 5394509
CEFACT_CEL = 4408652
CEFACT_MM_PER_S = 4403510
CEFACT_M3_PER_H = 5067080


@pytest.fixture(scope="module")
def opcua_config() -> GatewayConfig:
    return make_config([device("pump", PUMP_TAGS), device("fan", FAN_TAGS)])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opcua_server(opcua_config: GatewayConfig) -> AsyncIterator[OpcuaServer]:
    async with OpcuaServer(opcua_config, RecordingWriteHandler()) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opcua_client(opcua_server: OpcuaServer) -> AsyncIterator[Client]:
    async with Client(opcua_server.endpoint_url) as client:
        yield client


@pytest.fixture(scope="module")
def tag_node(opcua_client: Client, opcua_server: OpcuaServer) -> Callable[[str], Node]:
    def make(key: str) -> Node:
        return opcua_client.get_node(ua.NodeId(key, opcua_server.namespace_index))

    return make


async def browse_to(client: Client, server: OpcuaServer, *names: str) -> Node:
    ns = server.namespace_index
    return await client.nodes.objects.get_child([f"{ns}:{name}" for name in names])


async def test_endpoint_url_has_the_bound_port(opcua_server: OpcuaServer) -> None:
    url = urlparse(opcua_server.endpoint_url)
    assert url.scheme == "opc.tcp"
    assert url.hostname == "127.0.0.1"
    assert url.port not in (None, 0)
    assert url.path == "/uvelka"


async def test_namespace_is_registered(opcua_client: Client, opcua_server: OpcuaServer) -> None:
    namespaces = await opcua_client.get_namespace_array()
    assert namespaces[opcua_server.namespace_index] == "urn:uvelka:test"


async def test_folders_and_device_objects(opcua_client: Client, opcua_server: OpcuaServer) -> None:
    ns = opcua_server.namespace_index
    gateway = await browse_to(opcua_client, opcua_server, "plant")
    devices = await browse_to(opcua_client, opcua_server, "plant", "Devices")
    pump = await browse_to(opcua_client, opcua_server, "plant", "Devices", "pump")
    assert gateway.nodeid == ua.NodeId("plant", ns)
    assert devices.nodeid == ua.NodeId("Devices", ns)
    assert pump.nodeid == ua.NodeId("pump", ns)
    assert await gateway.read_type_definition() == ua.NodeId(ua.ObjectIds.FolderType)
    assert await devices.read_type_definition() == ua.NodeId(ua.ObjectIds.FolderType)
    assert await pump.read_node_class() == ua.NodeClass.Object
    children = {(await child.read_browse_name()).Name for child in await devices.get_children()}
    assert children == {"pump", "fan"}


async def test_browse_path_reaches_every_tag(
    opcua_client: Client, opcua_server: OpcuaServer, opcua_config: GatewayConfig
) -> None:
    for dev in opcua_config.devices:
        for tag in dev.tags:
            node = await browse_to(
                opcua_client, opcua_server, "plant", "Devices", dev.name, tag.name
            )
            assert node.nodeid == ua.NodeId(f"{dev.name}.{tag.name}", opcua_server.namespace_index)


async def test_device_object_lists_its_tags_and_status(
    opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    pump = await browse_to(opcua_client, opcua_server, "plant", "Devices", "pump")
    names = {(await child.read_browse_name()).Name for child in await pump.get_children()}
    assert names == {tag["name"] for tag in PUMP_TAGS} | {"Status"}


@pytest.mark.parametrize(
    ("key", "data_type"),
    [
        ("pump.pressure", ua.ObjectIds.Float),
        ("pump.speed", ua.ObjectIds.UInt16),
        ("pump.temperature", ua.ObjectIds.Double),  # int16 scaled by 0.1
        ("pump.level", ua.ObjectIds.Int32),
        ("pump.starts", ua.ObjectIds.UInt32),
        ("pump.energy", ua.ObjectIds.UInt64),
        ("pump.position", ua.ObjectIds.Int64),
        ("pump.flow", ua.ObjectIds.Double),
        ("pump.running", ua.ObjectIds.Boolean),
        ("pump.serial", ua.ObjectIds.String),
        ("pump.code", ua.ObjectIds.Int16),
    ],
)
async def test_data_types(tag_node: Callable[[str], Node], key: str, data_type: int) -> None:
    node = tag_node(key)
    assert await node.read_data_type() == ua.NodeId(data_type)
    assert await node.read_value_rank() == ua.ValueRank.Scalar


@pytest.mark.parametrize(
    ("key", "type_definition"),
    [
        ("pump.pressure", ua.ObjectIds.AnalogUnitRangeType),  # unit and range
        ("pump.speed", ua.ObjectIds.AnalogUnitType),  # unit only
        ("pump.level", ua.ObjectIds.AnalogItemType),  # range only
        ("pump.starts", ua.ObjectIds.BaseAnalogType),  # neither
        ("pump.running", ua.ObjectIds.BaseDataVariableType),
        ("pump.serial", ua.ObjectIds.BaseDataVariableType),
    ],
)
async def test_variable_types(
    tag_node: Callable[[str], Node], key: str, type_definition: int
) -> None:
    assert await tag_node(key).read_type_definition() == ua.NodeId(type_definition)


@pytest.mark.parametrize(
    ("key", "access"),
    [
        ("pump.pressure", ua.AccessLevelType.CurrentRead),
        ("pump.speed", ua.AccessLevelType.CurrentRead | ua.AccessLevelType.CurrentWrite),
        ("pump.running", ua.AccessLevelType.CurrentRead | ua.AccessLevelType.CurrentWrite),
        ("pump.serial", ua.AccessLevelType.CurrentRead),
    ],
)
async def test_access_levels(tag_node: Callable[[str], Node], key: str, access: int) -> None:
    node = tag_node(key)
    level = await node.read_attribute(ua.AttributeIds.AccessLevel)
    user_level = await node.read_attribute(ua.AttributeIds.UserAccessLevel)
    assert level.Value.Value == access
    assert user_level.Value.Value == access


@pytest.mark.parametrize(
    ("key", "unit_id", "display"),
    [
        ("pump.pressure", CEFACT_BAR, "bar"),
        ("pump.speed", CEFACT_RPM, "r/min"),
        ("pump.temperature", CEFACT_CEL, "°C"),
        ("pump.vibration", CEFACT_MM_PER_S, "mm/s"),
        ("pump.flow", CEFACT_M3_PER_H, "m³/h"),
        ("pump.output", -1, "widgets/h"),  # not a UN/ECE unit: text kept, UnitId -1
    ],
)
async def test_engineering_units(
    tag_node: Callable[[str], Node], key: str, unit_id: int, display: str
) -> None:
    units = await tag_node(key).get_child("0:EngineeringUnits")
    eu = await units.read_value()
    assert isinstance(eu, ua.EUInformation)
    assert eu.NamespaceUri == UNECE_NAMESPACE
    assert eu.UnitId == unit_id
    assert eu.DisplayName.Text == display
    assert await units.read_type_definition() == ua.NodeId(ua.ObjectIds.PropertyType)
    assert await units.read_data_type() == ua.NodeId(ua.ObjectIds.EUInformation)


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [("pump.pressure", 0.0, 16.0), ("pump.temperature", -40.0, 150.0), ("pump.level", 0.0, 100.0)],
)
async def test_eu_range(tag_node: Callable[[str], Node], key: str, low: float, high: float) -> None:
    eu_range = await tag_node(key).get_child("0:EURange")
    assert await eu_range.read_value() == ua.Range(low, high)
    assert await eu_range.read_data_type() == ua.NodeId(ua.ObjectIds.Range)


async def test_properties_only_where_configured(tag_node: Callable[[str], Node]) -> None:
    properties = {
        (await p.read_browse_name()).to_string()
        for p in await tag_node("pump.speed").get_properties()
    }
    assert properties == {"0:EngineeringUnits"}
    assert await tag_node("pump.starts").get_properties() == []
    assert await tag_node("pump.running").get_properties() == []


async def test_names_and_description(
    tag_node: Callable[[str], Node], opcua_server: OpcuaServer
) -> None:
    node = tag_node("pump.pressure")
    assert (await node.read_display_name()).Text == "pressure"
    assert await node.read_browse_name() == ua.QualifiedName(
        "pressure", opcua_server.namespace_index
    )
    assert (await node.read_description()).Text == "Discharge pressure"


async def test_minimum_sampling_interval_is_the_poll_interval(
    tag_node: Callable[[str], Node],
) -> None:
    interval = await tag_node("pump.pressure").read_attribute(
        ua.AttributeIds.MinimumSamplingInterval
    )
    assert interval.Value.Value == 1000.0  # DeviceConfig.poll_interval defaults to 1 s


async def test_every_tag_starts_waiting_for_initial_data(
    opcua_client: Client, tag_node: Callable[[str], Node], opcua_config: GatewayConfig
) -> None:
    keys = [f"{dev.name}.{tag.name}" for dev in opcua_config.devices for tag in dev.tags]
    values = await opcua_client.read_attributes([tag_node(k) for k in keys], ua.AttributeIds.Value)
    for key, value in zip(keys, values, strict=True):
        assert value.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData, key
        assert value.Value.Value is None, key


@pytest.mark.parametrize(
    ("name", "data_type"),
    [
        ("Connected", ua.ObjectIds.Boolean),
        ("LastError", ua.ObjectIds.String),
        ("PollCount", ua.ObjectIds.UInt64),
        ("ErrorCount", ua.ObjectIds.UInt64),
        ("RoundTripTime", ua.ObjectIds.Double),
        ("Overruns", ua.ObjectIds.UInt64),
    ],
)
async def test_status_object(
    opcua_client: Client, opcua_server: OpcuaServer, name: str, data_type: int
) -> None:
    status = await browse_to(opcua_client, opcua_server, "plant", "Devices", "pump", "Status")
    # The children carry DeviceStatusType's BrowseNames (urn:uvelka:types, Part 3 §6.3.3).
    types_ns = await opcua_client.get_namespace_index("urn:uvelka:types")
    node = await status.get_child(f"{types_ns}:{name}")
    assert node.nodeid == ua.NodeId(f"pump.Status.{name}", opcua_server.namespace_index)
    assert await node.read_data_type() == ua.NodeId(data_type)
    level = await node.read_attribute(ua.AttributeIds.AccessLevel)
    assert level.Value.Value == ua.AccessLevelType.CurrentRead
    value = await node.read_data_value(raise_on_bad_status=False)
    assert value.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData


async def test_disabled_devices_are_not_exposed() -> None:
    config = make_config([device("pump", PUMP_TAGS), device("fan", FAN_TAGS, enabled=False)])
    own_server = OpcuaServer(config, RecordingWriteHandler())
    async with own_server as server, Client(server.endpoint_url) as client:
        devices = await browse_to(client, server, "plant", "Devices")
        names = {(await child.read_browse_name()).Name for child in await devices.get_children()}
        assert names == {"pump"}


@pytest.mark.parametrize(
    ("config", "clash"),
    [
        (make_config([device("pump", [{**FAN_TAGS[0], "name": "Status"}])]), "pump.Status"),
        (make_config([device("plant", FAN_TAGS)]), "plant"),
    ],
)
async def test_clashing_names_are_refused(config: GatewayConfig, clash: str) -> None:
    server = OpcuaServer(config, RecordingWriteHandler())
    with pytest.raises(ValueError, match=rf"s={clash} already exists"):
        await server.__aenter__()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.endpoint_url


async def test_adding_a_device_twice_is_refused(
    opcua_server: OpcuaServer, opcua_config: GatewayConfig
) -> None:
    with pytest.raises(ValueError, match="already in the address space"):
        await opcua_server.add_device(opcua_config.devices[0])
