"""Our DataValue encoder against asyncua's decoder and encoder (Part 6 §5.2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import extensionobject_from_binary, struct_from_binary, struct_to_binary
from hypothesis import given
from hypothesis import strategies as st

from gateway.opcua.encoding import DataValueEncoder, client_handle, data_change_notification

VT = ua.VariantType
# One encoder for every example: its timestamp memo must never serve a stale value.
ENCODER = DataValueEncoder()

SCALARS: dict[ua.VariantType, st.SearchStrategy[object]] = {
    VT.Boolean: st.booleans(),
    VT.Int16: st.integers(-(2**15), 2**15 - 1),
    VT.UInt16: st.integers(0, 2**16 - 1),
    VT.Int32: st.integers(-(2**31), 2**31 - 1),
    VT.UInt32: st.integers(0, 2**32 - 1),
    VT.Int64: st.integers(-(2**63), 2**63 - 1),
    VT.UInt64: st.integers(0, 2**64 - 1),
    VT.Float: st.floats(width=32, allow_nan=False),
    VT.Double: st.floats(allow_nan=False),
    VT.String: st.text(),
}
STATUSES = [
    ua.StatusCodes.Good,
    ua.StatusCodes.UncertainLastUsableValue,
    ua.StatusCodes.BadCommunicationError,
    ua.StatusCodes.BadWaitingForInitialData,
]
# asyncua clamps DateTime to 1601..9999 and keeps microseconds.
MOMENTS = st.datetimes(
    min_value=datetime(1601, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@st.composite
def data_values(draw: st.DrawFn) -> ua.DataValue:
    vtype = draw(st.sampled_from(sorted(SCALARS)))
    status = ua.StatusCode(draw(st.sampled_from(STATUSES)))
    variant = (
        ua.Variant(None, VT.Null) if status.is_bad() else ua.Variant(draw(SCALARS[vtype]), vtype)
    )
    return ua.DataValue(
        variant,
        status,
        SourceTimestamp=draw(st.none() | MOMENTS),
        ServerTimestamp=draw(st.none() | MOMENTS),
    )


def decode(raw: bytes) -> ua.DataValue:
    return struct_from_binary(ua.DataValue, Buffer(raw))


@given(data_values())
def test_asyncua_decodes_what_asyncua_would_have_encoded(value: ua.DataValue) -> None:
    assert decode(ENCODER.encode(value)) == decode(struct_to_binary(value))


@given(data_values())
def test_round_trip_keeps_value_status_and_timestamps(value: ua.DataValue) -> None:
    decoded = decode(ENCODER.encode(value))
    assert decoded.StatusCode == value.StatusCode
    assert decoded.Value == value.Value
    assert decoded.SourceTimestamp == value.SourceTimestamp
    assert decoded.ServerTimestamp == value.ServerTimestamp


def test_hand_checked_bytes() -> None:
    at = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)  # 10 ticks
    value = ua.DataValue(
        ua.Variant(-2, VT.Int16),
        ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
        SourceTimestamp=at,
    )
    assert ENCODER.encode(value) == (
        b"\x07"  # mask: value, status, source timestamp
        + b"\x04\xfe\xff"  # Variant: Int16, -2 little-endian
        + b"\x00\x00\x90\x40"  # 0x40900000
        + b"\x0a\x00\x00\x00\x00\x00\x00\x00"  # 10 x 100 ns since 1601
    )


def test_good_status_and_null_value_are_left_out() -> None:
    assert ENCODER.encode(ua.DataValue(ua.Variant(True, VT.Boolean))) == b"\x01\x01\x01"
    bad = ua.DataValue(ua.Variant(None, VT.Null), ua.StatusCode(ua.StatusCodes.BadDeviceFailure))
    assert ENCODER.encode(bad) == b"\x02\x00\x00\x8b\x80"


def test_not_a_number_survives() -> None:
    decoded = decode(ENCODER.encode(ua.DataValue(ua.Variant(math.nan, VT.Double))))
    assert math.isnan(decoded.Value.Value)


@pytest.mark.parametrize(
    "value",
    [
        ua.DataValue(ua.Variant([1.0, 2.0], VT.Double)),
        ua.DataValue(ua.Variant(ua.Range(0.0, 1.0), VT.ExtensionObject)),
        ua.DataValue(ua.Variant(1.0, VT.Double), SourcePicoseconds=5),
    ],
)
def test_everything_else_is_asyncua_encoding(value: ua.DataValue) -> None:
    assert ENCODER.encode(value) == struct_to_binary(value)


def test_a_notification_message_of_encoded_items() -> None:
    first = ua.DataValue(ua.Variant(1.5, VT.Float))
    second = ua.DataValue(
        ua.Variant(None, VT.Null), ua.StatusCode(ua.StatusCodes.BadCommunicationError)
    )
    extension = data_change_notification(
        [client_handle(7) + ENCODER.encode(first), client_handle(9) + ENCODER.encode(second)]
    )
    decoded = extensionobject_from_binary(Buffer(struct_to_binary(extension)))
    assert isinstance(decoded, ua.DataChangeNotification)
    assert [(item.ClientHandle, item.Value) for item in decoded.MonitoredItems] == [
        (7, decode(struct_to_binary(first))),
        (9, decode(struct_to_binary(second))),
    ]
    assert decoded.DiagnosticInfos == []
