"""The gateway's nodes: folders, one object per device, a variable per tag, a Status
object per device, one object per asset.

Browse path and NodeIds (namespace = the configured namespace URI):

    Objects/<gateway>                    Folder      s=<gateway>
      Devices                            Folder      s=Devices
        <device>                         Object      s=<device>
          <tag>                          Variable    s=<device>.<tag>
            EURange, EngineeringUnits    Property    s=<device>.<tag>.EURange, ...
          Status                         Object      s=<device>.Status  (DeviceStatusType)
            Connected, LastError, PollCount, ErrorCount, RoundTripTime, Overruns
                                         Variable    s=<device>.Status.<name>
      Assets                             Folder      s=Assets
        <asset>                          Object      s=Assets.<asset>   (AssetHealthType)
          AnomalyScore, Anomaly, RemainingUsefulLife, ModelVersion, LastScored, ModelStatus
                                         Variable    s=<asset>.<name>
            EURange, ...                 Property    s=<asset>.<name>.<property>

Status and asset objects are instances of the types in gateway.opcua.nodesets: their
children are built from the types' InstanceDeclarations (gateway.opcua.declarations),
with the declarations' BrowseNames (in the types' namespace, Part 3 §6.3.3), DataTypes
and TypeDefinitions, so a client that knows the type finds them by its browse paths.

Numeric tags take the most specific analog VariableType of Part 8 §5.3.2 their
configuration supports: AnalogUnitRangeType (unit and range), AnalogUnitType (unit),
AnalogItemType (range), BaseAnalogType (neither); booleans and strings are
BaseDataVariableType. Part 8 makes EngineeringUnits mandatory on the *Unit* types and
EURange mandatory on AnalogItemType and its subtype AnalogUnitRangeType, so each node
carries exactly the properties its type requires.

Nodes are written straight into asyncua's AddressSpace instead of through
`Node.add_variable`. The stock path scans every reference of the parent for each child
it adds (the HasProperty name check and `_add_unique_reference` in
asyncua/server/address_space.py), which is quadratic in the children of a folder: tags
with their two properties took 0.8 s for 1,000 in one device and 5 s for 3,000 (10,000
plain variables in one folder: about 100 s). Here the uniqueness the scan protects is
checked once per device against a set and the references are appended directly: 0.1 s
for 1,000 tags, 1.2 s for 10,000, with the documented flat browse path kept.
Removal likewise avoids `delete_nodes(DeleteTargetReferences=True)`, which walks the
whole address space for each node removed.

A device edited while the gateway runs keeps the nodes of the tags whose node would be
built the same (`node_shape`), so clients watching them keep their monitored items; the
other tags' nodes are removed and built again (`remove_tags`, `add_tags`).
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from asyncua import ua

from gateway.config.model import DeviceConfig, TagConfig
from gateway.core.status import DeviceStatus
from gateway.opcua.asyncua_internals import AddressSpace, AttributeValue, NodeData
from gateway.opcua.datatypes import data_type_id, structure_or_builtin, variant_type
from gateway.opcua.declarations import Declaration, ObjectTypeModel
from gateway.opcua.node_data import attribute, link, reference
from gateway.opcua.nodesets import GatewayTypes
from gateway.opcua.tag_value import TagValue
from gateway.opcua.uatypes import data_value, make_status, standard_id, string_id
from gateway.opcua.units import UnitCatalogue

_A = ua.AttributeIds
_HAS_COMPONENT = standard_id(ua.ObjectIds.HasComponent)
_HAS_PROPERTY = standard_id(ua.ObjectIds.HasProperty)
_HAS_TYPE_DEFINITION = standard_id(ua.ObjectIds.HasTypeDefinition)
_ORGANIZES = standard_id(ua.ObjectIds.Organizes)
_FOLDER_TYPE = standard_id(ua.ObjectIds.FolderType)
_BASE_OBJECT_TYPE = standard_id(ua.ObjectIds.BaseObjectType)
_BASE_DATA_VARIABLE_TYPE = standard_id(ua.ObjectIds.BaseDataVariableType)
_PROPERTY_TYPE = standard_id(ua.ObjectIds.PropertyType)
_OBJECTS_FOLDER = standard_id(ua.ObjectIds.ObjectsFolder)
_GOOD = make_status(ua.StatusCodes.Good)

_READ = ua.AccessLevelType.CurrentRead
_READ_WRITE = ua.AccessLevelType.CurrentRead | ua.AccessLevelType.CurrentWrite

DEVICES_FOLDER = "Devices"
ASSETS_FOLDER = "Assets"
STATUS_OBJECT = "Status"


def analog_type(tag: TagConfig) -> ua.NodeId:
    """The VariableType of a tag's node (Part 8 §5.3.2; see the module docstring)."""
    if not tag.type.is_numeric:
        return _BASE_DATA_VARIABLE_TYPE
    if tag.unit is not None and tag.range is not None:
        return standard_id(ua.ObjectIds.AnalogUnitRangeType)
    if tag.unit is not None:
        return standard_id(ua.ObjectIds.AnalogUnitType)
    if tag.range is not None:
        return standard_id(ua.ObjectIds.AnalogItemType)
    return standard_id(ua.ObjectIds.BaseAnalogType)


def node_shape(tag: TagConfig) -> tuple[object, ...]:
    """Everything a tag's nodes are built from (see GatewayNodes._tag): two tags of one
    device with the same name and shape have identical nodes."""
    return (variant_type(tag), analog_type(tag), tag.writable, tag.description, tag.range,
            tag.unit)


@dataclass(frozen=True, slots=True)
class TagNode:
    """A tag's variable: where its Value lives and how a value is typed."""

    key: str
    vtype: ua.VariantType
    writable: bool
    current: TagValue  # its Value attribute, kept as parts: what a polled value is stored into


@dataclass(frozen=True, slots=True)
class StatusNodes:
    """The Values of a device's Status variables (DeviceStatusType), kept as parts like a
    tag's: PollCount and RoundTripTime change at every poll (issue #17)."""

    connected: TagValue
    last_error: TagValue
    poll_count: TagValue
    error_count: TagValue
    round_trip_time: TagValue
    overruns: TagValue


@dataclass(slots=True)
class DeviceNodes:
    """Everything built for one device: its own nodes (the object, Status and its
    children), and each tag's (its variable first, then its properties) by tag key."""

    nodeid: ua.NodeId
    tags: dict[str, TagNode]
    status: StatusNodes
    own: list[NodeData]
    tag_nodes: dict[str, list[NodeData]]
    # What the Status variables show now (gateway.opcua.server.publish_status): a poll
    # cycle's status stores only the variables that changed.
    shown_status: DeviceStatus | None = None

    @property
    def nodes(self) -> list[NodeData]:
        return [*self.own, *(node for nodes in self.tag_nodes.values() for node in nodes)]

    def value_attributes(self) -> Iterator[AttributeValue]:
        """Every Value attribute of the device, where subscriptions attach."""
        return _value_attributes(self.nodes)

    def tag_value_attributes(self, key: str) -> Iterator[AttributeValue]:
        """The Value attributes of one tag's nodes."""
        return _value_attributes(self.tag_nodes[key])


@dataclass(slots=True)
class AssetNodes:
    """Everything built for one asset; `values` by path below the asset ("Anomaly",
    "AnomalyScore.EURange")."""

    nodeid: ua.NodeId
    values: dict[str, AttributeValue]
    nodes: list[NodeData]

    def value_attributes(self) -> Iterator[AttributeValue]:
        """Every Value attribute of the asset, where subscriptions attach."""
        return _value_attributes(self.nodes)


def _value_attributes(nodes: Iterable[NodeData]) -> Iterator[AttributeValue]:
    for node in nodes:
        value = node.attributes.get(_A.Value)
        if value is not None:
            yield value


def waiting_value() -> ua.DataValue:
    """What a tag shows before its first read."""
    return data_value(
        ua.Variant(None, ua.VariantType.Null),
        make_status(ua.StatusCodes.BadWaitingForInitialData),
        server=datetime.now(UTC),
    )


class GatewayNodes:
    """Builds and removes the gateway's nodes in asyncua's address space."""

    def __init__(
        self,
        aspace: AddressSpace,
        namespace_index: int,
        gateway: str,
        units: UnitCatalogue,
        types: GatewayTypes,
    ) -> None:
        self._aspace = aspace
        self._ns = namespace_index
        self._units = units
        self._types = types
        self._constants: dict[tuple[object, ua.VariantType], ua.DataValue] = {}
        self._fixed_attributes: dict[tuple[int, object, ua.VariantType], AttributeValue] = {}
        self._descriptions: dict[tuple[str | None, str | None], AttributeValue] = {}
        self._type_refs: dict[ua.NodeId, ua.ReferenceDescription] = {}
        root = self._folder(gateway, gateway)
        devices = self._folder(DEVICES_FOLDER, DEVICES_FOLDER)
        assets = self._folder(ASSETS_FOLDER, ASSETS_FOLDER)
        link(root, devices, _ORGANIZES)
        link(root, assets, _ORGANIZES)
        self._check_new([root, devices, assets])
        link(self._aspace[_OBJECTS_FOLDER], root, _ORGANIZES)
        self._insert([root, devices, assets])
        self.devices_folder: ua.NodeId = devices.nodeid
        self.assets_folder: ua.NodeId = assets.nodeid

    def build_device(self, device: DeviceConfig) -> DeviceNodes:
        """Create the device's object, tag variables and Status object, all or nothing."""
        with _gc_paused():
            return self._build_device(device)

    def _build_device(self, device: DeviceConfig) -> DeviceNodes:
        obj = self._object(device.name, device.name, _BASE_OBJECT_TYPE)
        own: list[NodeData] = [obj]
        sampling_ms = device.poll_interval * 1000.0
        tags: dict[str, TagNode] = {}
        tag_nodes: dict[str, list[NodeData]] = {}
        for tag in device.tags:
            tag_node, nodes = self._tag(device.name, tag, sampling_ms)
            link(obj, nodes[0], _HAS_COMPONENT)
            tags[tag_node.key] = tag_node
            tag_nodes[tag_node.key] = nodes

        status_type = self._types.device_status
        status_id = f"{device.name}.{STATUS_OBJECT}"
        status_obj = self._object(status_id, STATUS_OBJECT, status_type.nodeid)
        link(obj, status_obj, _HAS_COMPONENT)
        own.append(status_obj)
        children = self._instance(
            status_obj, status_id, _mandatory(status_type.declarations), {}, sampling_ms
        )
        own.extend(children.values())
        status = {name: node.attributes[_A.Value] for name, node in children.items()}

        built = [*own, *(node for nodes in tag_nodes.values() for node in nodes)]
        self._check_new(built)
        link(self._aspace[self.devices_folder], obj, _ORGANIZES)
        self._insert(built)
        return DeviceNodes(
            nodeid=obj.nodeid,
            tags=tags,
            status=StatusNodes(
                connected=TagValue(status["Connected"], ua.VariantType.Boolean, None),
                last_error=TagValue(status["LastError"], ua.VariantType.String, None),
                poll_count=TagValue(status["PollCount"], ua.VariantType.UInt64, None),
                error_count=TagValue(status["ErrorCount"], ua.VariantType.UInt64, None),
                round_trip_time=TagValue(status["RoundTripTime"], ua.VariantType.Double, None),
                overruns=TagValue(status["Overruns"], ua.VariantType.UInt64, None),
            ),
            own=own,
            tag_nodes=tag_nodes,
        )

    def remove_device(self, device: DeviceNodes) -> None:
        """Delete the device's nodes and the Devices folder's reference to it."""
        self._remove(self.devices_folder, device.nodeid, device.nodes)

    def add_tags(
        self, device: DeviceNodes, config: DeviceConfig, tags: Sequence[TagConfig]
    ) -> None:
        """Create the variables of more `tags` of a built device, all or nothing."""
        with _gc_paused():
            sampling_ms = config.poll_interval * 1000.0
            made = [self._tag(config.name, tag, sampling_ms) for tag in tags]
            self._check_new(node for _, nodes in made for node in nodes)
            obj = self._aspace[device.nodeid]
            for tag_node, nodes in made:
                link(obj, nodes[0], _HAS_COMPONENT)
                self._insert(nodes)
                device.tags[tag_node.key] = tag_node
                device.tag_nodes[tag_node.key] = nodes

    def remove_tags(self, device: DeviceNodes, keys: Iterable[str]) -> None:
        """Delete the nodes of the tags `keys` of a built device, and its references to them."""
        gone: set[ua.NodeId] = set()
        for key in keys:
            del device.tags[key]
            nodes = device.tag_nodes.pop(key)
            gone.add(nodes[0].nodeid)
            for node in nodes:
                del self._aspace[node.nodeid]
        obj = self._aspace[device.nodeid]
        obj.references = [ref for ref in obj.references if ref.NodeId not in gone]

    def set_sampling_interval(self, device: DeviceNodes, poll_interval_s: float) -> None:
        """Make the device's variables advertise a new poll interval as their
        MinimumSamplingInterval; properties, set once, keep 0."""
        interval = self._constant(poll_interval_s * 1000.0, ua.VariantType.Double)
        for node in device.nodes:
            sampling = node.attributes.get(_A.MinimumSamplingInterval)
            if sampling is not None and attribute(node, _A.MinimumSamplingInterval):
                sampling.value = interval

    def build_asset(
        self,
        name: str,
        optional: Collection[str],
        values: Mapping[str, object],
        sampling_ms: float,
    ) -> AssetNodes:
        """Create an asset's object with the mandatory children of AssetHealthType and the
        `optional` ones; `values` are property values by path ("AnomalyScore.EURange")."""
        asset_type = self._types.asset_health
        unknown = set(optional) - {d.name for d in asset_type.declarations if d.optional}
        if unknown:
            raise ValueError(f"{asset_type.name} has no optional {', '.join(sorted(unknown))}")
        obj = self._object(f"{ASSETS_FOLDER}.{name}", name, asset_type.nodeid)
        declarations = [d for d in asset_type.declarations if not d.optional or d.name in optional]
        children = self._instance(obj, name, declarations, values, sampling_ms)
        unused = values.keys() - children.keys()
        if unused:
            raise ValueError(f"asset {name!r} has no {', '.join(sorted(unused))} to set")
        built = [obj, *children.values()]
        self._check_new(
            built,
            f"asset {name!r} clashes with a tag of device {name!r}: a device named like an "
            f"asset may have no tag called {_names(asset_type)}",
        )
        link(self._aspace[self.assets_folder], obj, _ORGANIZES)
        self._insert(built)
        return AssetNodes(
            nodeid=obj.nodeid,
            values={path: node.attributes[_A.Value] for path, node in children.items()},
            nodes=built,
        )

    def remove_asset(self, asset: AssetNodes) -> None:
        """Delete the asset's nodes and the Assets folder's reference to it."""
        self._remove(self.assets_folder, asset.nodeid, asset.nodes)

    def _remove(self, folder_id: ua.NodeId, nodeid: ua.NodeId, nodes: Iterable[NodeData]) -> None:
        folder = self._aspace[folder_id]
        folder.references = [ref for ref in folder.references if ref.NodeId != nodeid]
        for node in nodes:
            del self._aspace[node.nodeid]

    def _tag(
        self, device: str, tag: TagConfig, sampling_ms: float
    ) -> tuple[TagNode, list[NodeData]]:
        key = f"{device}.{tag.name}"
        vtype = variant_type(tag)
        var = self._variable(
            key,
            self._browse_name(tag.name),
            data_type_id(vtype),
            analog_type(tag),
            access=_READ_WRITE if tag.writable else _READ,
            sampling_ms=sampling_ms,
            description=ua.LocalizedText(tag.description),
        )
        nodes = [var]
        eu_span = None
        if tag.type.is_numeric and tag.range is not None:
            low, high = tag.range
            eu_span = high - low
            nodes.append(
                self._property(
                    var, f"{key}.EURange", "EURange", ua.Range(low, high), ua.ObjectIds.Range
                )
            )
        if tag.type.is_numeric and tag.unit is not None:
            eu = self._units.eu_information(tag.unit)
            nodes.append(
                self._property(
                    var,
                    f"{key}.EngineeringUnits",
                    "EngineeringUnits",
                    eu,
                    ua.ObjectIds.EUInformation,
                )
            )
        tag_node = TagNode(
            key=key,
            vtype=vtype,
            writable=tag.writable,
            current=TagValue(var.attributes[_A.Value], vtype, eu_span),
        )
        return tag_node, nodes

    def _instance(
        self,
        owner: NodeData,
        prefix: str,
        declarations: Iterable[Declaration],
        values: Mapping[str, object],
        sampling_ms: float,
        path: str = "",
    ) -> dict[str, NodeData]:
        """The children `declarations` make of `owner`, by path below the instance.

        NodeIds are "<prefix>.<path>". Each declaration's mandatory children are built
        too. A node takes its value from `values` by path, else the declared default
        (a unit the type fixes), else it waits for initial data.
        """
        built: dict[str, NodeData] = {}
        for declaration in declarations:
            relative = f"{path}{declaration.name}"
            node = self._declared(
                f"{prefix}.{relative}", declaration, values.get(relative), sampling_ms
            )
            link(owner, node, declaration.reference_type)
            built[relative] = node
            built.update(
                self._instance(
                    node,
                    prefix,
                    _mandatory(declaration.children),
                    values,
                    sampling_ms,
                    f"{relative}.",
                )
            )
        return built

    def _declared(
        self, identifier: str, declaration: Declaration, value: object, sampling_ms: float
    ) -> NodeData:
        variant = declaration.default
        if value is not None:
            variant = ua.Variant(value, structure_or_builtin(declaration.data_type))
        node = self._variable(
            identifier,
            declaration.browse_name,
            declaration.data_type,
            declaration.type_definition,
            access=declaration.access_level,
            # Properties are set once, like the tags' properties.
            sampling_ms=0.0 if declaration.is_property else sampling_ms,
            description=declaration.description,
            display_name=declaration.display_name,
            value_rank=declaration.value_rank,
        )
        if variant is not None:
            now = datetime.now(UTC)
            node.attributes[_A.Value] = AttributeValue(data_value(variant, _GOOD, now, now))
        return node

    # -- node construction -------------------------------------------------------------

    def _browse_name(self, name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, self._ns)

    def _folder(self, identifier: str, name: str) -> NodeData:
        return self._object(identifier, name, _FOLDER_TYPE)

    def _object(self, identifier: str, name: str, typedef: ua.NodeId) -> NodeData:
        node = self._base(identifier, self._browse_name(name), ua.NodeClass.Object)
        # Per node: condition_nodes turns it on in place for an alarm's source.
        node.attributes[_A.EventNotifier] = AttributeValue(self._constant(0, ua.VariantType.Byte))
        self._set_type(node, typedef)
        return node

    def _variable(
        self,
        identifier: str,
        browse_name: ua.QualifiedName,
        data_type: ua.NodeId,
        typedef: ua.NodeId,
        *,
        access: int,
        sampling_ms: float,
        description: ua.LocalizedText | None = None,
        display_name: ua.LocalizedText | None = None,
        value_rank: int = -1,
    ) -> NodeData:
        node = self._base(
            identifier, browse_name, ua.NodeClass.Variable, display_name, description
        )
        attrs = node.attributes
        attrs[_A.Value] = AttributeValue(waiting_value())
        attrs[_A.DataType] = self._fixed(_A.DataType, data_type, ua.VariantType.NodeId)
        self._variable_common(node, access, sampling_ms, value_rank)
        self._set_type(node, typedef)
        return node

    def _property(
        self, owner: NodeData, identifier: str, name: str, value: object, data_type: int
    ) -> NodeData:
        # Properties of standard types keep their standard (namespace 0) browse names.
        node = self._base(identifier, ua.QualifiedName(name, 0), ua.NodeClass.Variable)
        now = datetime.now(UTC)
        node.attributes[_A.Value] = AttributeValue(
            data_value(ua.Variant(value, ua.VariantType.ExtensionObject), _GOOD, now, now)
        )
        node.attributes[_A.DataType] = self._fixed(
            _A.DataType, standard_id(data_type), ua.VariantType.NodeId
        )
        self._variable_common(node, _READ, 0.0, -1)
        self._set_type(node, _PROPERTY_TYPE)
        link(owner, node, _HAS_PROPERTY)
        return node

    def _variable_common(
        self, node: NodeData, access: int, sampling_ms: float, value_rank: int
    ) -> None:
        attrs = node.attributes
        attrs[_A.ValueRank] = self._fixed(_A.ValueRank, value_rank, ua.VariantType.Int32)
        attrs[_A.AccessLevel] = self._fixed(_A.AccessLevel, access, ua.VariantType.Byte)
        attrs[_A.UserAccessLevel] = self._fixed(_A.UserAccessLevel, access, ua.VariantType.Byte)
        # Per node: set_sampling_interval changes it in place for one device's nodes.
        attrs[_A.MinimumSamplingInterval] = AttributeValue(
            self._constant(sampling_ms, ua.VariantType.Double)
        )
        attrs[_A.Historizing] = self._fixed(_A.Historizing, False, ua.VariantType.Boolean)

    def _base(
        self,
        identifier: str,
        browse_name: ua.QualifiedName,
        node_class: ua.NodeClass,
        display_name: ua.LocalizedText | None = None,
        description: ua.LocalizedText | None = None,
    ) -> NodeData:
        nodeid = string_id(identifier, self._ns)
        node = NodeData(nodeid)
        attrs = node.attributes
        display = display_name or ua.LocalizedText(browse_name.Name)
        attrs[_A.NodeId] = AttributeValue(ua.DataValue(ua.Variant(nodeid, ua.VariantType.NodeId)))
        attrs[_A.NodeClass] = self._fixed(_A.NodeClass, node_class, ua.VariantType.Int32)
        attrs[_A.BrowseName] = AttributeValue(
            ua.DataValue(ua.Variant(browse_name, ua.VariantType.QualifiedName))
        )
        attrs[_A.DisplayName] = AttributeValue(
            ua.DataValue(ua.Variant(display, ua.VariantType.LocalizedText))
        )
        attrs[_A.Description] = self._description(description or ua.LocalizedText(""))
        attrs[_A.WriteMask] = self._fixed(_A.WriteMask, 0, ua.VariantType.UInt32)
        attrs[_A.UserWriteMask] = self._fixed(_A.UserWriteMask, 0, ua.VariantType.UInt32)
        return node

    def _constant(self, value: object, vtype: ua.VariantType) -> ua.DataValue:
        # Attribute DataValues that many nodes share: asyncua replaces an attribute's
        # DataValue on write and never mutates one, so sharing is safe and saves memory.
        key = (value, vtype)
        cached = self._constants.get(key)
        if cached is None:
            cached = self._constants[key] = ua.DataValue(ua.Variant(value, vtype))
        return cached

    def _fixed(self, attr: int, value: object, vtype: ua.VariantType) -> AttributeValue:
        # An attribute nothing writes, as one AttributeValue for every node with that value
        # (issue #10: ~1.5 KiB less a tag, bench/README.md "Footprint"). asyncua changes an
        # AttributeValue only when its attribute is written: clients may write Values only
        # (asyncua refuses other attributes to non-admin users; remote admin is off), and
        # the gateway itself changes only MinimumSamplingInterval and EventNotifier, which
        # stay per node. A client's monitored item on one of these attributes lands in the
        # shared datachange_callbacks under its own handle, and is never called.
        key = (attr, value, vtype)
        shared = self._fixed_attributes.get(key)
        if shared is None:
            shared = self._fixed_attributes[key] = AttributeValue(self._constant(value, vtype))
        return shared

    def _description(self, text: ua.LocalizedText) -> AttributeValue:
        # Nothing writes a Description either (a tag's changed description builds its nodes
        # again: node_shape), so nodes with the same one share it as `_fixed` shares; most
        # tags have none (issue #10: ~0.35 KiB less a tag). LocalizedText is unhashable.
        key = (text.Locale, text.Text)
        shared = self._descriptions.get(key)
        if shared is None:
            shared = self._descriptions[key] = AttributeValue(
                ua.DataValue(ua.Variant(text, ua.VariantType.LocalizedText))
            )
        return shared

    # -- references ----------------------------------------------------------------------

    def _set_type(self, node: NodeData, typedef: ua.NodeId) -> None:
        # One shared HasTypeDefinition reference per type: references are replaced or
        # removed from a node's list, never mutated, except by asyncua renaming a node.
        ref = self._type_refs.get(typedef)
        if ref is None:
            ref = self._type_refs[typedef] = reference(
                self._aspace[typedef], _HAS_TYPE_DEFINITION, True
            )
        node.references.append(ref)

    # -- insertion -----------------------------------------------------------------------

    def _check_new(self, nodes: Iterable[NodeData], hint: str | None = None) -> None:
        seen: set[ua.NodeId] = set()
        for node in nodes:
            if node.nodeid in seen or node.nodeid in self._aspace:
                raise ValueError(
                    f"NodeId {node.nodeid.to_string()} already exists: "
                    + (
                        hint
                        or "device, tag and gateway names must be unique, and no tag may be "
                        f"called {STATUS_OBJECT!r}"
                    )
                )
            seen.add(node.nodeid)

    def _insert(self, nodes: Iterable[NodeData]) -> None:
        for node in nodes:
            self._aspace[node.nodeid] = node


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many nodes.

    Each node is a few dozen objects; the allocations trigger full collections that
    traverse the whole standard address space again and again: 60 % of the time of
    building 10,000 tags (2.5 s, 1.0 s paused). The nodes hold no reference cycles, so
    nothing collectable accumulates while paused.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _mandatory(declarations: Iterable[Declaration]) -> list[Declaration]:
    return [declaration for declaration in declarations if not declaration.optional]


def _names(object_type: ObjectTypeModel) -> str:
    return " or ".join(repr(name) for name in object_type.names())
