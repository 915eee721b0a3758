"""OPC UA binary encoding (Part 6 §5.2) of the DataValues the gateway publishes.

asyncua encodes each MonitoredItemNotification through its generic dataclass serializer,
about 9 µs apiece here: more than everything else a notification costs the server. A
published value is a scalar of a handful of built-in types, so it is encoded once, with
a precompiled struct, and the bytes are shared by every subscription that reports it.
Anything else (arrays, structures, picoseconds) goes through asyncua's serializer.

The PublishResponse that carries them is encoded here too (`publish_response`): asyncua's
serializer took about 30 µs per response, a third of a publish cycle (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from struct import Struct, pack
from types import MappingProxyType

from asyncua import ua
from asyncua.ua.ua_binary import nodeid_to_binary, struct_to_binary

from gateway.opcua.uatypes import extension_object, standard_id

# DataValue encoding mask bits (Part 6 §5.2.2.17).
_HAS_VALUE = 0x01
_HAS_STATUS = 0x02
_HAS_SOURCE_TIMESTAMP = 0x04
_HAS_SERVER_TIMESTAMP = 0x08

_INT32 = Struct("<i")
_UINT32 = Struct("<I")
_INT64 = Struct("<q")
_DATA_CHANGE_NOTIFICATION = standard_id(ua.ObjectIds.DataChangeNotification_Encoding_DefaultBinary)

# Variant encoding byte (the built-in type id) followed by the value.
_SCALARS: MappingProxyType[ua.VariantType, Struct] = MappingProxyType(
    {
        ua.VariantType.Boolean: Struct("<B?"),
        ua.VariantType.Int16: Struct("<Bh"),
        ua.VariantType.UInt16: Struct("<BH"),
        ua.VariantType.Int32: Struct("<Bi"),
        ua.VariantType.UInt32: Struct("<BI"),
        ua.VariantType.Int64: Struct("<Bq"),
        ua.VariantType.UInt64: Struct("<BQ"),
        ua.VariantType.Float: Struct("<Bf"),
        ua.VariantType.Double: Struct("<Bd"),
    }
)
_STRING = bytes([ua.VariantType.String.value])

client_handle: Callable[[int], bytes] = _UINT32.pack
"""The encoded ClientHandle that starts a MonitoredItemNotification."""


def _variant(variant: ua.Variant) -> bytes | None:
    """The encoded scalar Variant, or None when this module does not handle it."""
    if variant.is_array or variant.Dimensions:
        return None
    vtype = variant.VariantType
    scalar = _SCALARS.get(vtype)
    if scalar is not None:
        return scalar.pack(vtype.value, variant.Value)
    if vtype is ua.VariantType.String:
        if variant.Value is None:
            return _STRING + _INT32.pack(-1)
        raw = variant.Value.encode("utf-8")
        return _STRING + _INT32.pack(len(raw)) + raw
    return None


class DataValueEncoder:
    """Encodes DataValues; remembers the last timestamps it converted.

    The values of one batch share their ServerTimestamp, and the tags of one poll their
    SourceTimestamp: converting a datetime to the OPC UA epoch is then done once per
    batch or poll, not per value.
    """

    def __init__(self) -> None:
        self._source: tuple[datetime | None, bytes] = (None, b"")
        self._server: tuple[datetime | None, bytes] = (None, b"")

    def encode(self, value: ua.DataValue) -> bytes:
        """The binary encoding of a DataValue, as asyncua's decoder (and any client) reads it."""
        if value.SourcePicoseconds is not None or value.ServerPicoseconds is not None:
            return struct_to_binary(value)
        mask = 0
        parts: list[bytes] = []
        variant = value.Value
        # A null Value and a Good StatusCode are simply left out (Part 6 §5.2.2.17).
        if variant is not None and variant.VariantType is not ua.VariantType.Null:
            encoded = _variant(variant)
            if encoded is None:
                return struct_to_binary(value)
            mask |= _HAS_VALUE
            parts.append(encoded)
        status = value.StatusCode
        if status is not None and status.value != ua.StatusCodes.Good:
            mask |= _HAS_STATUS
            parts.append(_UINT32.pack(status.value))
        source = value.SourceTimestamp
        if source is not None:
            mask |= _HAS_SOURCE_TIMESTAMP
            if source is not self._source[0]:
                self._source = (source, _timestamp(source))
            parts.append(self._source[1])
        server = value.ServerTimestamp
        if server is not None:
            mask |= _HAS_SERVER_TIMESTAMP
            if server is not self._server[0]:
                self._server = (server, _timestamp(server))
            parts.append(self._server[1])
        return bytes((mask,)) + b"".join(parts)


def _timestamp(moment: datetime) -> bytes:
    return _INT64.pack(ua.datetime_to_win_epoch(moment))


def data_change_notification(items: list[bytes]) -> ua.ExtensionObject:
    """A DataChangeNotification from encoded MonitoredItemNotifications.

    asyncua writes an ExtensionObject in a NotificationMessage as it is (its
    `extensionobject_to_binary`), so the encoded notifications are never decoded again.
    An item that is not bytes raises TypeError.
    """
    body = _INT32.pack(len(items)) + b"".join(items) + _INT32.pack(0)  # no DiagnosticInfos
    return extension_object(_DATA_CHANGE_NOTIFICATION, body)


# A PublishResponse (Part 4 §5.13.5) as asyncua's serializer writes one: its TypeId, then
# the ResponseHeader (Timestamp, RequestHandle, then a Good ServiceResult, no
# ServiceDiagnostics, an empty StringTable and no AdditionalHeader: a null NodeId, no body).
_PUBLISH_RESPONSE = nodeid_to_binary(
    standard_id(ua.ObjectIds.PublishResponse_Encoding_DefaultBinary)
)
_HEADER_END = _UINT32.pack(ua.StatusCodes.Good) + b"\x00" + _INT32.pack(0) + b"\x00\x00\x00"
_DATA_CHANGE_START = nodeid_to_binary(_DATA_CHANGE_NOTIFICATION) + b"\x01"  # a body follows
_BOOLEAN = Struct("<?")


def publish_response(result: ua.PublishResult, request_handle: int) -> bytes | None:
    """The encoded PublishResponse of `result` to the request `request_handle`, the bytes
    asyncua's serializer would make; None unless every notification in it is a
    `data_change_notification` (events and status changes are asyncua's to encode)."""
    message = result.NotificationMessage
    data: list[bytes] = []
    for notification in message.NotificationData:
        if getattr(notification, "TypeId", None) is not _DATA_CHANGE_NOTIFICATION:
            return None
        body: bytes = notification.Body
        data += (_DATA_CHANGE_START, _INT32.pack(len(body)), body)
    numbers, results = result.AvailableSequenceNumbers, result.Results
    if numbers is None or results is None or result.DiagnosticInfos or not message.PublishTime:
        return None
    return b"".join(
        (
            _PUBLISH_RESPONSE,
            _timestamp(datetime.now(UTC)),
            _UINT32.pack(request_handle),
            _HEADER_END,
            _UINT32.pack(result.SubscriptionId),
            _uint32_array(numbers),
            _BOOLEAN.pack(result.MoreNotifications),
            _UINT32.pack(message.SequenceNumber),
            _timestamp(message.PublishTime),
            _INT32.pack(len(message.NotificationData)),
            *data,
            _uint32_array([status.value for status in results]),
            _INT32.pack(0),  # no DiagnosticInfos
        )
    )


def _uint32_array(values: list[int]) -> bytes:
    return pack(f"<i{len(values)}I", len(values), *values)  # struct caches the format
