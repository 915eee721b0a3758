"""Condition nodes: an instance of an alarm type below its source object, and the
notifier references that carry its events up to the Server object.

    <source object>                      EventNotifier SubscribeToEvents
      HasComponent, HasCondition ->
      <alarm>                            Object    s=Alarms.<alarm>   (the ConditionId)
        ActiveState, ActiveState/Id ...  Variable  s=Alarms.<alarm>.ActiveState.Id
        Acknowledge                      Method    s=Alarms.<alarm>.Acknowledge

    Server -HasNotifier-> <gateway> -HasNotifier-> Devices | Assets -HasNotifier-> <source>

An instance has every Mandatory InstanceDeclaration of its type and supertypes (the
most derived one of each BrowseName, as asyncua's `instantiate` chooses) and the
Optional ones asked for, each with its mandatory children; NodeIds are the instance's
NodeId, "." and the browse path, as `instantiate` names them for a string NodeId.
The nodes are copied straight into asyncua's AddressSpace, as gateway.opcua.address_space
builds devices: `instantiate` reads the type through the node API and adds node by node,
28 ms per ExclusiveLevelAlarmType instance on the 2-core development machine, against
2.5 ms here (39 nodes). Works with asyncua 2.1's NodeData and AttributeValue, as
address_space.py does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from asyncua import ua

from gateway.opcua.asyncua_internals import AddressSpace, AttributeValue, NodeData
from gateway.opcua.node_data import attribute, link, reference, target
from gateway.opcua.uatypes import standard_id, string_id

_A = ua.AttributeIds
_HAS_COMPONENT = standard_id(ua.ObjectIds.HasComponent)
_HAS_PROPERTY = standard_id(ua.ObjectIds.HasProperty)
_HAS_SUBTYPE = standard_id(ua.ObjectIds.HasSubtype)
_HAS_TYPE_DEFINITION = standard_id(ua.ObjectIds.HasTypeDefinition)
_HAS_MODELLING_RULE = standard_id(ua.ObjectIds.HasModellingRule)
_HAS_CONDITION = standard_id(ua.ObjectIds.HasCondition)
_HAS_NOTIFIER = standard_id(ua.ObjectIds.HasNotifier)
_MANDATORY = standard_id(ua.ObjectIds.ModellingRule_Mandatory)
_OPTIONAL = standard_id(ua.ObjectIds.ModellingRule_Optional)
_CHILD_REFERENCES = (_HAS_COMPONENT, _HAS_PROPERTY)

CONDITION_PREFIX = "Alarms"

Declared = tuple[ua.NodeId, NodeData]  # (reference type from the parent, declaration)

_NOTIFIER = {
    on: ua.DataValue(
        ua.Variant(int(ua.EventNotifierType.SubscribeToEvents) if on else 0, ua.VariantType.Byte)
    )
    for on in (True, False)
}


def condition_id(name: str, namespace_index: int, path: str = "") -> ua.NodeId:
    """The NodeId of an alarm's condition (the ConditionId its events carry), or of its
    node at browse path `path` below it ("ShelvingState")."""
    return string_id(_identifier(name, path), namespace_index)


def _identifier(name: str, path: str = "") -> str:
    # The browse path's "/" becomes ".", as asyncua's `instantiate` names children.
    return ".".join(filter(None, (CONDITION_PREFIX, name, path.replace("/", "."))))


@dataclass(slots=True)
class ConditionNodes:
    """Everything built for one condition; `values` by browse path below it, joined
    with "/" like an event field ("ActiveState/Id"), and `methods` likewise."""

    nodeid: ua.NodeId
    source: ua.NodeId
    values: dict[str, AttributeValue]
    methods: dict[str, ua.NodeId]
    nodes: list[NodeData]

    def value_attributes(self) -> Iterator[AttributeValue]:
        """Every Value attribute of the condition, where subscriptions attach."""
        return iter(self.values.values())


class ConditionNodeBuilder:
    """Builds and removes condition instances and notifier references."""

    def __init__(self, aspace: AddressSpace, namespace_index: int) -> None:
        self._aspace = aspace
        self._ns = namespace_index
        self._declared: dict[tuple[ua.NodeId, frozenset[str]], list[Declared]] = {}

    def build(
        self, name: str, type_id: ua.NodeId, optional: Collection[str], source_id: ua.NodeId
    ) -> ConditionNodes:
        """Create the condition of alarm `name` below the object `source_id`."""
        source = self._aspace[source_id]
        browse_name = ua.QualifiedName(name, self._ns)
        if any(ref.IsForward and ref.BrowseName == browse_name for ref in source.references):
            raise ValueError(
                f"alarm {name!r}: {source_id.to_string()} already has a child called {name!r}"
            )
        nodeid = condition_id(name, self._ns)
        condition = _object(nodeid, browse_name, self._reference(type_id, _HAS_TYPE_DEFINITION))
        built = ConditionNodes(nodeid, source_id, {}, {}, [condition])
        for reftype, declaration in self._declarations(type_id, frozenset(optional)):
            self._copy(name, declaration, reftype, condition, "", built)
        seen: set[ua.NodeId] = set()
        for node in built.nodes:
            if node.nodeid in seen or node.nodeid in self._aspace:
                raise ValueError(
                    f"alarm {name!r}: NodeId {node.nodeid.to_string()} already exists "
                    f"(a device named {CONDITION_PREFIX!r} has a tag named like the alarm?)"
                )
            seen.add(node.nodeid)
        link(source, condition, _HAS_COMPONENT)
        link(source, condition, _HAS_CONDITION)
        for node in built.nodes:
            self._aspace[node.nodeid] = node
        return built

    def remove(self, condition: ConditionNodes) -> None:
        """Delete the condition's nodes and its source's references to it."""
        source = self._aspace.get(condition.source)
        if source is not None:
            source.references = [r for r in source.references if r.NodeId != condition.nodeid]
        for node in condition.nodes:
            del self._aspace[node.nodeid]

    def notify(self, notifier_id: ua.NodeId, source_id: ua.NodeId) -> None:
        """Make `source_id` an event notifier below `notifier_id` (HasNotifier, Part 3)."""
        source = self._aspace[source_id]
        source.attributes[_A.EventNotifier].value = _NOTIFIER[True]
        link(self._aspace[notifier_id], source, _HAS_NOTIFIER)

    def unnotify(self, notifier_id: ua.NodeId, source_id: ua.NodeId) -> None:
        """Undo `notify`; a source already deleted is skipped."""
        notifier = self._aspace[notifier_id]
        notifier.references = [
            r for r in notifier.references if not _is(r, _HAS_NOTIFIER, source_id)
        ]
        source = self._aspace.get(source_id)
        if source is not None:
            source.attributes[_A.EventNotifier].value = _NOTIFIER[False]
            source.references = [
                r for r in source.references if not _is(r, _HAS_NOTIFIER, notifier_id)
            ]

    def _declarations(self, type_id: ua.NodeId, optional: frozenset[str]) -> list[Declared]:
        """What an instance of the type holds, read once per type."""
        key = (type_id, optional)
        declared = self._declared.get(key)
        if declared is None:
            declared = self._declared[key] = self._read_declarations(type_id, optional)
        return declared

    def _read_declarations(self, type_id: ua.NodeId, optional: frozenset[str]) -> list[Declared]:
        found: dict[str, Declared] = {}
        type_node: NodeData | None = self._aspace[type_id]
        while type_node is not None:
            for ref in type_node.references:
                name = ref.BrowseName.Name or ""
                if not ref.IsForward or ref.ReferenceTypeId not in _CHILD_REFERENCES:
                    continue
                declaration = self._aspace[ref.NodeId]
                rule = target(declaration, _HAS_MODELLING_RULE)
                wanted = rule == _MANDATORY or (rule == _OPTIONAL and name in optional)
                if wanted and name not in found:
                    found[name] = (ref.ReferenceTypeId, declaration)
            supertype = target(type_node, _HAS_SUBTYPE, forward=False)
            type_node = None if supertype is None else self._aspace[supertype]
        missing = set(optional) - found.keys()
        if missing:
            raise ValueError(f"{type_id.to_string()} declares no {', '.join(sorted(missing))}")
        return list(found.values())

    def _copy(
        self,
        alarm: str,
        declaration: NodeData,
        reftype: ua.NodeId,
        parent: NodeData,
        path: str,
        built: ConditionNodes,
    ) -> None:
        name = attribute(declaration, _A.BrowseName).Name
        path = f"{path}{name}"
        nodeid = string_id(_identifier(alarm, path), self._ns)
        node = NodeData(nodeid)
        for attribute_id, value in declaration.attributes.items():
            # Each node needs its own AttributeValue (subscriptions attach to it); the
            # DataValues are shared, as asyncua replaces them on write and never mutates.
            node.attributes[attribute_id] = AttributeValue(value.value)  # type: ignore[arg-type]
        node.attributes[_A.NodeId] = AttributeValue(
            ua.DataValue(ua.Variant(nodeid, ua.VariantType.NodeId))
        )
        node.references.extend(
            ref
            for ref in declaration.references
            if ref.IsForward and ref.ReferenceTypeId == _HAS_TYPE_DEFINITION
        )
        # An instance's method runs what is linked to its declaration (condition_methods).
        node.call = declaration.call
        link(parent, node, reftype)
        built.nodes.append(node)
        node_class = attribute(declaration, _A.NodeClass)
        if node_class == ua.NodeClass.Variable:
            built.values[path] = node.attributes[_A.Value]
        elif node_class == ua.NodeClass.Method:
            built.methods[path] = nodeid
        for ref in declaration.references:
            if ref.IsForward and ref.ReferenceTypeId in _CHILD_REFERENCES:
                child = self._aspace[ref.NodeId]
                if target(child, _HAS_MODELLING_RULE) == _MANDATORY:
                    self._copy(alarm, child, ref.ReferenceTypeId, node, f"{path}/", built)

    def _reference(self, nodeid: ua.NodeId, reftype: ua.NodeId) -> ua.ReferenceDescription:
        return reference(self._aspace[nodeid], reftype, True)


def _object(
    nodeid: ua.NodeId, browse_name: ua.QualifiedName, typedef: ua.ReferenceDescription
) -> NodeData:
    node = NodeData(nodeid)
    node.attributes = {
        _A.NodeId: AttributeValue(ua.DataValue(ua.Variant(nodeid, ua.VariantType.NodeId))),
        _A.NodeClass: AttributeValue(
            ua.DataValue(ua.Variant(ua.NodeClass.Object, ua.VariantType.Int32))
        ),
        _A.BrowseName: AttributeValue(
            ua.DataValue(ua.Variant(browse_name, ua.VariantType.QualifiedName))
        ),
        _A.DisplayName: AttributeValue(
            ua.DataValue(
                ua.Variant(ua.LocalizedText(browse_name.Name), ua.VariantType.LocalizedText)
            )
        ),
        _A.Description: AttributeValue(
            ua.DataValue(ua.Variant(ua.LocalizedText(""), ua.VariantType.LocalizedText))
        ),
        _A.WriteMask: AttributeValue(ua.DataValue(ua.Variant(0, ua.VariantType.UInt32))),
        _A.UserWriteMask: AttributeValue(ua.DataValue(ua.Variant(0, ua.VariantType.UInt32))),
        # Clients subscribe to the source object or above it, not to the condition.
        _A.EventNotifier: AttributeValue(_NOTIFIER[False]),
    }
    node.references.append(typedef)
    return node


def _is(ref: ua.ReferenceDescription, reftype: ua.NodeId, node_id: ua.NodeId) -> bool:
    return ref.ReferenceTypeId == reftype and ref.NodeId == node_id
