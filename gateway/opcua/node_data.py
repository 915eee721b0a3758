"""asyncua's NodeData read and linked directly: attribute values, reference targets and
the ReferenceDescriptions that the address space, the type declarations and the
condition nodes all build the same way."""

from __future__ import annotations

from typing import Any

from asyncua import ua

from gateway.opcua.asyncua_internals import NodeData
from gateway.opcua.uatypes import standard_id

_A = ua.AttributeIds
_HAS_TYPE_DEFINITION = standard_id(ua.ObjectIds.HasTypeDefinition)
_NULL_NODEID = ua.NodeId()


def attribute(node: NodeData, attr: ua.AttributeIds) -> Any:
    """The value of one of the node's attributes; ValueError if it has none."""
    value = node.attributes[attr].value
    if value is None or value.Value is None:
        raise ValueError(f"{node.nodeid.to_string()} has no {attr.name}")
    return value.Value.Value


def target(node: NodeData, reftype: ua.NodeId, forward: bool = True) -> ua.NodeId | None:
    """The node the first reference of `reftype` (in that direction) points to."""
    for ref in node.references:
        if ref.IsForward == forward and ref.ReferenceTypeId == reftype:
            return ref.NodeId
    return None


def reference(node: NodeData, reftype: ua.NodeId, forward: bool) -> ua.ReferenceDescription:
    """A reference of `reftype` to `node`, described as Browse returns it."""
    node_class = ua.NodeClass(attribute(node, _A.NodeClass))
    typedef = _NULL_NODEID
    if node_class in (ua.NodeClass.Object, ua.NodeClass.Variable):
        typedef = target(node, _HAS_TYPE_DEFINITION) or _NULL_NODEID
    # Every field is passed: the dataclass's default factories (an ExpandedNodeId per
    # field) cost more than the rest of the reference.
    return ua.ReferenceDescription(
        ReferenceTypeId=reftype,
        IsForward=forward,
        NodeId=node.nodeid,
        BrowseName=attribute(node, _A.BrowseName),
        DisplayName=attribute(node, _A.DisplayName),
        NodeClass=node_class,
        TypeDefinition=typedef,
    )


def link(parent: NodeData, child: NodeData, reftype: ua.NodeId) -> None:
    """Reference `child` from `parent` by `reftype`, and back (the inverse reference)."""
    parent.references.append(reference(child, reftype, True))
    child.references.append(reference(parent, reftype, False))
