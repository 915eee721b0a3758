"""asyncua constructors typed for the plain values the gateway passes.

asyncua annotates its dataclasses with marker subclasses (ua.Int32, ua.UInt32,
ua.DateTime, ...) that it never checks at run time: a plain int, str or aware datetime
encodes the same. Converting every value to a marker class would cost time on the
publish path for nothing, so these few constructors take the plain types and keep the
type-checker's exceptions in one place.
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


def data_value(
    variant: ua.Variant,
    status_code: ua.StatusCode,
    source: datetime | None = None,
    server: datetime | None = None,
) -> ua.DataValue:
    """A DataValue with its timestamps (aware UTC datetimes)."""
    return ua.DataValue(
        variant,
        status_code,
        SourceTimestamp=source,  # type: ignore[arg-type]
        ServerTimestamp=server,  # type: ignore[arg-type]
    )


def extension_object(type_id: ua.NodeId, body: bytes) -> ua.ExtensionObject:
    """An ExtensionObject with an already encoded body."""
    return ua.ExtensionObject(TypeId=type_id, Body=body)  # type: ignore[arg-type]
