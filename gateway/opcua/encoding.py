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

# The DataValue's mask, then the Variant: its encoding byte (the built-in type id) and value.
_SCALARS: MappingProxyType[ua.VariantType, Struct] = MappingProxyType(
    {
        ua.VariantType.Boolean: Struct("<BB?"),
        ua.VariantType.Int16: Struct("<BBh"),
        ua.VariantType.UInt16: Struct("<BBH"),
        ua.VariantType.Int32: Struct("<BBi"),
        ua.VariantType.UInt32: Struct("<BBI"),
        ua.VariantType.Int64: Struct("<BBq"),
        ua.VariantType.UInt64: Struct("<BBQ"),
        ua.VariantType.Float: Struct("<BBf"),
        ua.VariantType.Double: Struct("<BBd"),
    }
)
_STRING = Struct("<BBi")  # mask, String, byte length (-1: null)
_MASK = Struct("<B")

client_handle: Callable[[int], bytes] = _UINT32.pack
"""The encoded ClientHandle that starts a MonitoredItemNotification."""


class DataValueEncoder:
    """Encodes DataValues; remembers the encoding of the last status and timestamps.

    What follows the Value in a DataValue (StatusCode, SourceTimestamp, ServerTimestamp)
    is the same for most values in a row: the values of one batch share their
    ServerTimestamp and their StatusCode objects (gateway.opcua.status), the tags of one
    poll their SourceTimestamp. That tail, with its bits of the mask, is encoded once per
    change of those objects, not per value.
    """

    def __init__(self) -> None:
        self._status: ua.StatusCode | None = None
        self._source: datetime | None = None
        self._server: datetime | None = None
        self._mask = 0
        self._tail = b""

    def encode(self, value: ua.DataValue) -> bytes:
        """The binary encoding of a DataValue, as asyncua's decoder (and any client) reads it."""
        variant = value.Value
        if (
            value.SourcePicoseconds is None
            and value.ServerPicoseconds is None
            and (variant is None or not (variant.is_array or variant.Dimensions))
        ):
            if variant is None or variant.VariantType is ua.VariantType.Null:
                vtype, content, shown = ua.VariantType.Null, None, False
            else:
                vtype, content, shown = variant.VariantType, variant.Value, True
            encoded = self.encode_parts(vtype, content, shown, value.StatusCode,
                                        value.SourceTimestamp, value.ServerTimestamp)
            if encoded is not None:
                return encoded
        return struct_to_binary(value)

    def encode_parts(
        self,
        vtype: ua.VariantType,
        value: object,
        shown: bool,
        status: ua.StatusCode | None,
        source: datetime | None,
        server: datetime | None,
    ) -> bytes | None:
        """The encoding of a DataValue without picoseconds from its parts: a scalar `value`
        of `vtype` (no Value unless `shown`), its StatusCode and timestamps; None for a
        type encoded here only through asyncua's serializer (`encode`)."""
        if status is not self._status or source is not self._source or server is not self._server:
            self._remember(status, source, server)
        # A null Value and a Good StatusCode are simply left out (Part 6 §5.2.2.17).
        if not shown:
            return _MASK.pack(self._mask) + self._tail
        scalar = _SCALARS.get(vtype)
        if scalar is not None:
            return scalar.pack(self._mask | _HAS_VALUE, vtype, value) + self._tail
        if vtype is ua.VariantType.String:
            if value is None:
                return _STRING.pack(self._mask | _HAS_VALUE, vtype, -1) + self._tail
            raw = value.encode("utf-8")  # type: ignore[attr-defined]  # a String's str
            return _STRING.pack(self._mask | _HAS_VALUE, vtype, len(raw)) + raw + self._tail
        return None

    def _remember(
        self, status: ua.StatusCode | None, source: datetime | None, server: datetime | None
    ) -> None:
        mask = 0
        parts: list[bytes] = []
        if status is not None and status.value != ua.StatusCodes.Good:
            mask |= _HAS_STATUS
            parts.append(_UINT32.pack(status.value))
        if source is not None:
            mask |= _HAS_SOURCE_TIMESTAMP
            parts.append(_timestamp(source))
        if server is not None:
            mask |= _HAS_SERVER_TIMESTAMP
            parts.append(_timestamp(server))
        self._status, self._source, self._server = status, source, server
        self._mask, self._tail = mask, b"".join(parts)


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
