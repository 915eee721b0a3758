"""The InstanceDeclarations of an ObjectType, read from asyncua's address space.

Part 3 §6.3.3: the children of a type that carry a ModellingRule are its
InstanceDeclarations; every instance has a child with the same BrowseName for each
Mandatory one, and may have one for each Optional one. The gateway builds its typed
objects (device Status, assets) in bulk (gateway.opcua.address_space), so it reads
what to build from the imported type instead of calling asyncua's `instantiate`,
which adds node by node through the stock AddNodes path. The NodeSet is then the one
description of these objects: a variable added there appears in every instance.

Only a type's own declarations are read: the gateway's types derive directly from
BaseObjectType, which declares none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from asyncua import ua

from gateway.opcua.asyncua_internals import AddressSpace, NodeData
from gateway.opcua.node_data import attribute, target
from gateway.opcua.uatypes import standard_id

_A = ua.AttributeIds
_HAS_COMPONENT = standard_id(ua.ObjectIds.HasComponent)
_HAS_PROPERTY = standard_id(ua.ObjectIds.HasProperty)
_HAS_TYPE_DEFINITION = standard_id(ua.ObjectIds.HasTypeDefinition)
_HAS_MODELLING_RULE = standard_id(ua.ObjectIds.HasModellingRule)
_MANDATORY = standard_id(ua.ObjectIds.ModellingRule_Mandatory)
_OPTIONAL = standard_id(ua.ObjectIds.ModellingRule_Optional)


@dataclass(frozen=True, slots=True)
class Declaration:
    """One variable InstanceDeclaration and, nested, the declarations of its children."""

    browse_name: ua.QualifiedName
    display_name: ua.LocalizedText
    description: ua.LocalizedText
    reference_type: ua.NodeId  # HasComponent or HasProperty, from its parent
    type_definition: ua.NodeId
    data_type: ua.NodeId
    value_rank: int
    access_level: int
    default: ua.Variant | None  # the declared Value, for what the type fixes (units)
    optional: bool
    children: tuple[Declaration, ...]

    @property
    def name(self) -> str:
        return self.browse_name.Name or ""

    @property
    def is_property(self) -> bool:
        return self.reference_type == _HAS_PROPERTY


@dataclass(frozen=True, slots=True)
class ObjectTypeModel:
    """An ObjectType and its InstanceDeclarations."""

    nodeid: ua.NodeId
    name: str
    declarations: tuple[Declaration, ...]

    def names(self) -> tuple[str, ...]:
        """The BrowseNames of its direct children, in declaration order."""
        return tuple(declaration.name for declaration in self.declarations)


def read_object_type(aspace: AddressSpace, nodeid: ua.NodeId) -> ObjectTypeModel:
    """The ObjectType at `nodeid`, with its declarations; ValueError if it is not one."""
    node = aspace[nodeid]
    if attribute(node, _A.NodeClass) != ua.NodeClass.ObjectType:
        raise ValueError(f"{nodeid.to_string()} is not an ObjectType")
    name = attribute(node, _A.BrowseName).Name
    return ObjectTypeModel(nodeid, name, tuple(_declarations(aspace, node)))


def _declarations(aspace: AddressSpace, parent: NodeData) -> Iterator[Declaration]:
    for ref in parent.references:
        if not ref.IsForward or ref.ReferenceTypeId not in (_HAS_COMPONENT, _HAS_PROPERTY):
            continue
        child = aspace[ref.NodeId]
        rule = target(child, _HAS_MODELLING_RULE)
        if rule not in (_MANDATORY, _OPTIONAL):
            continue  # not an InstanceDeclaration, or a placeholder: nothing to build
        if attribute(child, _A.NodeClass) != ua.NodeClass.Variable:
            raise ValueError(
                f"{child.nodeid.to_string()}: the gateway instantiates variable declarations "
                "only"
            )
        declared = child.attributes[_A.Value].value
        default = declared.Value if declared is not None else None
        if default is not None and default.Value is None:
            default = None
        yield Declaration(
            browse_name=attribute(child, _A.BrowseName),
            display_name=attribute(child, _A.DisplayName),
            description=attribute(child, _A.Description),
            reference_type=ref.ReferenceTypeId,
            type_definition=_type_definition(child),
            data_type=attribute(child, _A.DataType),
            value_rank=attribute(child, _A.ValueRank),
            access_level=attribute(child, _A.AccessLevel),
            default=default,
            optional=rule == _OPTIONAL,
            children=tuple(_declarations(aspace, child)),
        )


def _type_definition(node: NodeData) -> ua.NodeId:
    typedef = target(node, _HAS_TYPE_DEFINITION)
    if typedef is None:
        raise ValueError(f"{node.nodeid.to_string()} has no HasTypeDefinition reference")
    return typedef
