"""gateway.opcua.uatypes' DataValue and Variant constructors build what asyncua's build.

They skip asyncua's constructors on the publish path: the objects must still be real
ua.DataValue / ua.Variant instances, field for field, that encode, copy and compare the
same, and that a client reads and is notified of exactly as asyncua's would be.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime

import pytest
from asyncua import Node, ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary, variant_to_binary

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.opcua import OpcuaServer
from gateway.opcua.status import status_code
from gateway.opcua.uatypes import data_value, scalar_variant
from tests.fixtures.opcua import Watch

VT = ua.VariantType
AT = datetime(2024, 5, 17, 8, 30, 12, 345678, tzinfo=UTC)
LATER = datetime(2024, 5, 17, 8, 30, 13, tzinfo=UTC)

SCALARS: list[tuple[Value, ua.VariantType]] = [
    (True, VT.Boolean),
    (-7, VT.Int16),
    (65535, VT.UInt16),
    (-(2**31), VT.Int32),
    (2**32 - 1, VT.UInt32),
    (-(2**40), VT.Int64),
    (2**63 + 5, VT.UInt64),
    (3.5, VT.Float),
    (12.25, VT.Double),
    ("SN-0042", VT.String),
    ("", VT.String),
    (None, VT.String),
]


def field_values(obj: object) -> dict[str, object]:
    # Every field, the uncompared Encoding too: a slot left unset raises here.
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@pytest.mark.parametrize(("value", "vtype"), SCALARS)
def test_scalar_variant_is_asyncuas(value: Value, vtype: ua.VariantType) -> None:
    built, stock = scalar_variant(value, vtype), ua.Variant(value, vtype)
    assert type(built) is ua.Variant
    assert field_values(built) == field_values(stock)
    assert variant_to_binary(built) == variant_to_binary(stock)


@pytest.mark.parametrize(("value", "vtype"), SCALARS)
@pytest.mark.parametrize("status", [ua.StatusCodes.Good, ua.StatusCodes.UncertainLastUsableValue])
@pytest.mark.parametrize(("source", "server"), [(AT, LATER), (None, LATER), (None, None)])
def test_data_value_is_asyncuas(
    value: Value,
    vtype: ua.VariantType,
    status: int,
    source: datetime | None,
    server: datetime | None,
) -> None:
    code = ua.StatusCode(status)
    built = data_value(scalar_variant(value, vtype), code, source, server)
    stock = ua.DataValue(
        ua.Variant(value, vtype),
        code,
        SourceTimestamp=source,
        ServerTimestamp=server,
    )
    assert type(built) is ua.DataValue
    assert field_values(built) == field_values(stock)
    assert built == stock
    assert struct_to_binary(built) == struct_to_binary(stock)
    # asyncua deep-copies the value it hands a monitored item first (set_current_datavalue).
    assert field_values(copy.deepcopy(built)) == field_values(stock)


def test_a_null_data_value_is_asyncuas() -> None:
    bad = ua.StatusCode(ua.StatusCodes.BadCommunicationError)
    null = ua.Variant(None, VT.Null)
    built = data_value(null, bad, server=LATER)
    stock = ua.DataValue(null, bad, ServerTimestamp=LATER)
    assert field_values(built) == field_values(stock)
    assert struct_to_binary(built) == struct_to_binary(stock)


# -- through a real client ---------------------------------------------------------------

PUBLISHED: list[tuple[str, Value, ua.VariantType, Quality]] = [
    ("pump.speed", 1480, VT.UInt16, Quality.GOOD),
    ("pump.energy", 2**63 + 5, VT.UInt64, Quality.GOOD),
    ("pump.flow", 12.25, VT.Double, Quality.GOOD),
    ("pump.temperature", 21.7, VT.Double, Quality.LAST_USABLE),
    ("pump.running", True, VT.Boolean, Quality.GOOD),
    ("pump.serial", "SN-0042", VT.String, Quality.GOOD),
    ("pump.level", None, VT.Null, Quality.COMM_ERROR),
]


def as_asyncua_builds_it(
    value: Value, vtype: ua.VariantType, quality: Quality, server: datetime
) -> ua.DataValue:
    """What a client decodes from the DataValue asyncua's own constructors make."""
    stock = ua.DataValue(
        ua.Variant(value, vtype),
        status_code(quality),
        SourceTimestamp=AT,
        ServerTimestamp=server,
    )
    decoded: ua.DataValue = struct_from_binary(ua.DataValue, Buffer(struct_to_binary(stock)))
    return decoded


async def test_a_client_reads_and_is_notified_of_what_asyncua_would_build(
    opcua_server: OpcuaServer,
    tag_node: Callable[[str], Node],
    watch: Callable[..., Awaitable[Watch]],
) -> None:
    nodes = {key: tag_node(key) for key, _, _, _ in PUBLISHED}
    subscribed = await watch(list(nodes.values()))
    opcua_server.publish([Sample(key, value, quality, AT) for key, value, _, quality in PUBLISHED])
    for key, value, vtype, quality in PUBLISHED:
        notified = await subscribed.next_change(nodes[key])
        assert notified.ServerTimestamp is not None, key
        assert notified == as_asyncua_builds_it(value, vtype, quality, notified.ServerTimestamp)
        read = await nodes[key].read_data_value(raise_on_bad_status=False)
        assert read == notified, key
