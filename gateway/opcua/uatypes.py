"""asyncua constructors typed for the plain values the gateway passes.

asyncua annotates its dataclasses with marker subclasses (ua.Int32, ua.UInt32,
ua.DateTime, ...) that it never checks at run time: a plain int, str or aware datetime
encodes the same. Converting every value to a marker class would cost time on the
publish path for nothing, so these few constructors take the plain types and keep the
type-checker's exceptions in one place.

`data_value` and `scalar_variant` also skip asyncua's constructors, which guess and check
types the gateway already knows (`Variant.__post_init__`): they fill the same slots with
what those constructors would have stored, about 0.9 µs less per published value
(tests/gateway/opcua/test_uatypes.py compares them with asyncua's, field by field).
"""

from __future__ import annotations

from datetime import datetime

from asyncua import ua


def standard_id(identifier: int) -> ua.NodeId:
    """A namespace-0 NodeId, from ua.ObjectIds."""
    return ua.NodeId(identifier)  # type: ignore[arg-type]


def string_id(identifier: str, namespace_index: int) -> ua.NodeId:
    """A string NodeId in a namespace."""
    return ua.NodeId(identifier, namespace_index)  # type: ignore[arg-type]


def make_status(code: int) -> ua.StatusCode:
    """A StatusCode from ua.StatusCodes."""
    return ua.StatusCode(code)  # type: ignore[arg-type]


_new = object.__new__


def scalar_variant(value: bool | int | float | str | None, vtype: ua.VariantType) -> ua.Variant:
    """`ua.Variant(value, vtype)` for a scalar already of vtype's Python type
    (gateway.opcua.datatypes.checked_value; None only for a String)."""
    variant: ua.Variant = _new(ua.Variant)
    variant.Value = value
    variant.VariantType = vtype
    variant.Dimensions = None
    variant.is_array = False
    return variant


def data_value(
    variant: ua.Variant,
    status_code: ua.StatusCode | None,
    source: datetime | None = None,
    server: datetime | None = None,
) -> ua.DataValue:
    """A DataValue with its timestamps (aware UTC datetimes)."""
    value: ua.DataValue = _new(ua.DataValue)
    value.Encoding = 0  # type: ignore[assignment]  # its default; the encoder computes the mask
    value.Value = variant
    value.StatusCode = status_code
    value.SourceTimestamp = source  # type: ignore[assignment]
    value.ServerTimestamp = server  # type: ignore[assignment]
    value.SourcePicoseconds = None
    value.ServerPicoseconds = None
    return value


def extension_object(type_id: ua.NodeId, body: bytes) -> ua.ExtensionObject:
    """An ExtensionObject with an already encoded body."""
    return ua.ExtensionObject(TypeId=type_id, Body=body)  # type: ignore[arg-type]
