"""Every NodeSet in nodesets/ imports into a fresh server and defines the gateway's types."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Node, Server, ua

from gateway.config.asset_checks import ASSET_VARIABLES
from gateway.opcua.datatypes import structure_or_builtin
from gateway.opcua.nodesets import TYPES_NAMESPACE, import_nodesets, nodeset_files
from gateway.opcua.units import UnitCatalogue

# The async tests share the module's server and so its event loop.
on_module_loop = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).parents[3]
NODESETS = ROOT / "nodesets"
PACKAGED = ROOT / "gateway" / "opcua" / "nodesets"
FILES = sorted(NODESETS.glob("*.xml"))

MANDATORY = ua.NodeId(ua.ObjectIds.ModellingRule_Mandatory)
OPTIONAL = ua.NodeId(ua.ObjectIds.ModellingRule_Optional)
BASE_DATA_VARIABLE = ua.NodeId(ua.ObjectIds.BaseDataVariableType)
PROPERTY = ua.NodeId(ua.ObjectIds.PropertyType)
BASE_ANALOG = ua.NodeId(ua.ObjectIds.BaseAnalogType)
ANALOG_UNIT = ua.NodeId(ua.ObjectIds.AnalogUnitType)
REMAINING_LIFE = "RemainingLifeType"  # ours: the types namespace

# (name, DataType, TypeDefinition, ModellingRule) of each type's variables.
DEVICE_STATUS = [
    ("Connected", ua.ObjectIds.Boolean, BASE_DATA_VARIABLE, MANDATORY),
    ("LastError", ua.ObjectIds.String, BASE_DATA_VARIABLE, MANDATORY),
    ("PollCount", ua.ObjectIds.UInt64, BASE_DATA_VARIABLE, MANDATORY),
    ("ErrorCount", ua.ObjectIds.UInt64, BASE_DATA_VARIABLE, MANDATORY),
    ("RoundTripTime", ua.ObjectIds.Double, ANALOG_UNIT, MANDATORY),
    ("Overruns", ua.ObjectIds.UInt64, BASE_DATA_VARIABLE, MANDATORY),
]
ASSET_HEALTH = [
    ("AnomalyScore", ua.ObjectIds.Double, BASE_ANALOG, OPTIONAL),
    ("Anomaly", ua.ObjectIds.Boolean, BASE_DATA_VARIABLE, OPTIONAL),
    ("AnomalyThreshold", ua.ObjectIds.Double, BASE_DATA_VARIABLE, OPTIONAL),
    ("RemainingUsefulLife", ua.ObjectIds.Double, REMAINING_LIFE, OPTIONAL),
    ("RemainingUsefulLifeLow", ua.ObjectIds.Double, BASE_DATA_VARIABLE, OPTIONAL),
    ("RemainingUsefulLifeHigh", ua.ObjectIds.Double, BASE_DATA_VARIABLE, OPTIONAL),
    ("ModelVersion", ua.ObjectIds.String, BASE_DATA_VARIABLE, MANDATORY),
    ("LastScored", ua.ObjectIds.DateTime, BASE_DATA_VARIABLE, MANDATORY),
    ("ModelStatus", ua.ObjectIds.String, BASE_DATA_VARIABLE, MANDATORY),
    ("LastMaintenance", ua.ObjectIds.DateTime, BASE_DATA_VARIABLE, MANDATORY),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Server]:
    """A fresh asyncua server (not listening) with every NodeSet imported, in order."""
    fresh = Server()
    await fresh.init()
    for path in FILES:
        await fresh.import_xml(str(path))
    yield fresh


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def types_ns(server: Server) -> int:
    return await server.get_namespace_index(TYPES_NAMESPACE)


async def object_type(server: Server, ns: int, name: str) -> Node:
    return await server.nodes.base_object_type.get_child(f"{ns}:{name}")


async def variable_type(server: Server, ns: int, name: str) -> Node:
    """One of our VariableTypes: all derive from AnalogUnitType."""
    return await server.get_node(ua.ObjectIds.AnalogUnitType).get_child(f"{ns}:{name}")


async def modelling_rule(node: Node) -> ua.NodeId:
    [rule] = await node.get_referenced_nodes(ua.ObjectIds.HasModellingRule)
    return rule.nodeid


def test_there_is_a_nodeset_and_the_package_carries_the_same_files() -> None:
    assert FILES, "nodesets/ holds no NodeSet2 file"
    packaged = sorted(PACKAGED.glob("*.xml"))
    assert [p.name for p in packaged] == [p.name for p in FILES]
    for source, copy in zip(FILES, packaged, strict=True):
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy} differs from {source}: copy nodesets/*.xml into gateway/opcua/nodesets/"
        )


def test_the_server_imports_the_files_in_name_order() -> None:
    assert [file.name for file in nodeset_files()] == [path.name for path in FILES]


@on_module_loop
async def test_every_nodeset_imports_into_a_fresh_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # asyncua logs, rather than raises, references it could not resolve.
    fresh = Server()
    await fresh.init()
    with caplog.at_level(logging.WARNING, logger="asyncua"):
        for path in FILES:
            added = await fresh.import_xml(str(path))
            assert added, path.name
    assert [record.getMessage() for record in caplog.records] == []
    assert TYPES_NAMESPACE in await fresh.get_namespace_array()


@on_module_loop
@pytest.mark.parametrize(
    ("type_name", "variables"),
    [("DeviceStatusType", DEVICE_STATUS), ("AssetHealthType", ASSET_HEALTH)],
)
async def test_object_types_declare_their_variables(
    server: Server,
    types_ns: int,
    type_name: str,
    variables: list[tuple[str, int, ua.NodeId | str, ua.NodeId]],
) -> None:
    node = await object_type(server, types_ns, type_name)
    assert await node.read_node_class() == ua.NodeClass.ObjectType
    children = await node.get_children(refs=ua.ObjectIds.HasComponent)
    names = [(await child.read_browse_name()).to_string() for child in children]
    assert names == [f"{types_ns}:{name}" for name, *_ in variables]
    for child, (name, data_type, typedef, rule) in zip(children, variables, strict=True):
        if isinstance(typedef, str):
            typedef = (await variable_type(server, types_ns, typedef)).nodeid
        assert await child.read_data_type() == ua.NodeId(data_type), name
        assert await child.read_type_definition() == typedef, name
        assert await modelling_rule(child) == rule, name
        assert await child.read_value_rank() == -1, name
        assert (await child.read_description()).Text, name


@on_module_loop
async def test_round_trip_time_is_in_milliseconds(server: Server, types_ns: int) -> None:
    status = await object_type(server, types_ns, "DeviceStatusType")
    units = await status.get_child([f"{types_ns}:RoundTripTime", "0:EngineeringUnits"])
    assert await units.read_type_definition() == PROPERTY
    assert await modelling_rule(units) == MANDATORY
    assert await units.read_value() == UnitCatalogue().eu_information("ms")


@on_module_loop
async def test_anomaly_score_may_leave_out_its_range(server: Server, types_ns: int) -> None:
    # Issue #11: an anomaly score has no range it stays in; BaseAnalogType (Part 8 §5.3.2.2)
    # makes EURange optional where AnalogItemType requires it.
    asset = await object_type(server, types_ns, "AssetHealthType")
    eu_range = await asset.get_child([f"{types_ns}:AnomalyScore", "0:EURange"])
    assert await eu_range.read_data_type() == ua.NodeId(ua.ObjectIds.Range)
    assert await modelling_rule(eu_range) == OPTIONAL


@on_module_loop
async def test_remaining_life_follows_the_di_lifetime_variable(
    server: Server, types_ns: int
) -> None:
    # DI LifetimeVariableType (OPC 10000-100 §10.2): a subtype of AnalogUnitType with
    # mandatory StartValue and LimitValue in the unit of the value.
    life_type = await variable_type(server, types_ns, REMAINING_LIFE)
    assert await life_type.read_node_class() == ua.NodeClass.VariableType
    assert await life_type.read_data_type() == ua.NodeId(ua.ObjectIds.Double)
    asset = await object_type(server, types_ns, "AssetHealthType")
    rul = await asset.get_child(f"{types_ns}:RemainingUsefulLife")
    for owner in (life_type, rul):
        for name in ("StartValue", "LimitValue"):
            limit = await owner.get_child(f"{types_ns}:{name}")
            assert await limit.read_data_type() == ua.NodeId(ua.ObjectIds.Double)
            assert await limit.read_type_definition() == PROPERTY
            assert await modelling_rule(limit) == MANDATORY
    units = await rul.get_child("0:EngineeringUnits")
    assert await modelling_rule(units) == MANDATORY


@on_module_loop
async def test_the_server_reads_the_declarations_it_builds_from() -> None:
    fresh = Server()
    await fresh.init()
    types = await import_nodesets(fresh)
    assert types.device_status.names() == tuple(name for name, *_ in DEVICE_STATUS)
    assert types.asset_health.names() == tuple(name for name, *_ in ASSET_HEALTH)
    optional = {d.name for d in types.asset_health.declarations if d.optional}
    assert optional == {"AnomalyScore", "Anomaly", "AnomalyThreshold", "RemainingUsefulLife",
                        "RemainingUsefulLifeLow", "RemainingUsefulLifeHigh"}
    [round_trip] = [d for d in types.device_status.declarations if d.name == "RoundTripTime"]
    [units] = round_trip.children
    assert units.is_property
    assert units.default is not None
    assert units.default.Value == UnitCatalogue().eu_information("ms")
    [rul] = [d for d in types.asset_health.declarations if d.name == "RemainingUsefulLife"]
    assert {child.name: child.default for child in rul.children} == {
        "EngineeringUnits": None,
        "StartValue": None,
        "LimitValue": None,
    }
    assert [structure_or_builtin(child.data_type) for child in rul.children] == [
        ua.VariantType.ExtensionObject,
        ua.VariantType.Double,
        ua.VariantType.Double,
    ]


@on_module_loop
async def test_the_config_check_knows_every_asset_variable(server: Server, types_ns: int) -> None:
    # gateway.config cannot import the OPC UA layer: it keeps its own list of the names.
    asset = await object_type(server, types_ns, "AssetHealthType")
    children = await asset.get_children(refs=ua.ObjectIds.HasComponent)
    names = [(await child.read_browse_name()).Name for child in children]
    assert tuple(names) == ASSET_VARIABLES
