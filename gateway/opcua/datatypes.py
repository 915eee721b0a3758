"""Which OPC UA built-in type a tag's value travels as."""

from __future__ import annotations

from types import MappingProxyType

from asyncua import ua

from drivers.base import DataType
from gateway.config.model import TagConfig
from gateway.opcua.uatypes import standard_id

_VARIANT_TYPES: MappingProxyType[DataType, ua.VariantType] = MappingProxyType(
    {
        DataType.BOOL: ua.VariantType.Boolean,
        DataType.INT16: ua.VariantType.Int16,
        DataType.UINT16: ua.VariantType.UInt16,
        DataType.INT32: ua.VariantType.Int32,
        DataType.UINT32: ua.VariantType.UInt32,
        DataType.INT64: ua.VariantType.Int64,
        DataType.UINT64: ua.VariantType.UInt64,
        DataType.FLOAT32: ua.VariantType.Float,
        DataType.FLOAT64: ua.VariantType.Double,
        DataType.STRING: ua.VariantType.String,
    }
)

_INTEGERS = frozenset(
    {
        DataType.INT16,
        DataType.UINT16,
        DataType.INT32,
        DataType.UINT32,
        DataType.INT64,
        DataType.UINT64,
    }
)


def variant_type(tag: TagConfig) -> ua.VariantType:
    """The built-in type of the tag's engineering value.

    A scaled integer is Double: raw * scale + offset is fractional in general, and
    the runtime publishes the engineering value, not the register.
    """
    if tag.type in _INTEGERS and (tag.scale != 1.0 or tag.offset != 0.0):
        return ua.VariantType.Double
    return _VARIANT_TYPES[tag.type]


def data_type_id(vtype: ua.VariantType) -> ua.NodeId:
    """The DataType NodeId of a built-in type (Part 6 §5.1.2: ids 1..25 coincide)."""
    return standard_id(vtype.value)


def structure_or_builtin(data_type: ua.NodeId) -> ua.VariantType:
    """How a value of `data_type` travels: its built-in type, else as an ExtensionObject.

    Only for the DataTypes of the gateway's NodeSets: built-in types and structures
    (Range, EUInformation). Enumerations and subtypes of built-in types (UtcTime) would
    need the DataType hierarchy.
    """
    identifier = data_type.Identifier
    if data_type.NamespaceIndex == 0 and isinstance(identifier, int) and 1 <= identifier <= 25:
        return ua.VariantType(identifier)  # Part 6 §5.1.2: ids 1..25 coincide
    return ua.VariantType.ExtensionObject


_PYTHON_TYPES: MappingProxyType[ua.VariantType, type] = MappingProxyType(
    {
        ua.VariantType.Boolean: bool,
        ua.VariantType.Int16: int,
        ua.VariantType.UInt16: int,
        ua.VariantType.Int32: int,
        ua.VariantType.UInt32: int,
        ua.VariantType.Int64: int,
        ua.VariantType.UInt64: int,
        ua.VariantType.Float: float,
        ua.VariantType.Double: float,
        ua.VariantType.String: str,
    }
)


def checked_value(value: object, vtype: ua.VariantType) -> bool | int | float | str:
    """`value` as the Python type asyncua encodes for `vtype`; TypeError if it is not one.

    A mistyped value would otherwise fail later, while encoding a Publish response,
    and take the other notifications of that response down with it.
    """
    expected = _PYTHON_TYPES[vtype]
    if type(value) is expected:
        return value  # type: ignore[return-value]
    if expected is float and type(value) is int:
        return float(value)
    raise TypeError(f"a {vtype.name} value must be a {expected.__name__}, got {value!r}")
