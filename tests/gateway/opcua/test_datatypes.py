"""Which built-in type a tag's value travels as."""

from __future__ import annotations

import pytest
from asyncua import ua

from drivers.base import DataType, Table
from gateway.config.model import TagConfig
from gateway.opcua.datatypes import checked_value, data_type_id, variant_type


def tag(data_type: DataType, scale: float = 1.0, offset: float = 0.0) -> TagConfig:
    table = Table.COIL if data_type is DataType.BOOL else Table.HOLDING
    return TagConfig(name="t", table=table, address=0, type=data_type, scale=scale, offset=offset)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (DataType.BOOL, ua.VariantType.Boolean),
        (DataType.INT16, ua.VariantType.Int16),
        (DataType.UINT16, ua.VariantType.UInt16),
        (DataType.INT32, ua.VariantType.Int32),
        (DataType.UINT32, ua.VariantType.UInt32),
        (DataType.INT64, ua.VariantType.Int64),
        (DataType.UINT64, ua.VariantType.UInt64),
        (DataType.FLOAT32, ua.VariantType.Float),
        (DataType.FLOAT64, ua.VariantType.Double),
        (DataType.STRING, ua.VariantType.String),
    ],
)
def test_unscaled_types(data_type: DataType, expected: ua.VariantType) -> None:
    assert variant_type(tag(data_type)) is expected


@pytest.mark.parametrize(("scale", "offset"), [(0.1, 0.0), (1.0, -40.0), (2.0, 5.0)])
def test_scaled_integers_are_double(scale: float, offset: float) -> None:
    assert variant_type(tag(DataType.INT16, scale, offset)) is ua.VariantType.Double
    assert variant_type(tag(DataType.UINT32, scale, offset)) is ua.VariantType.Double


def test_scaled_float32_stays_float() -> None:
    assert variant_type(tag(DataType.FLOAT32, 0.5)) is ua.VariantType.Float


def test_data_type_ids_are_the_builtin_ids() -> None:
    assert data_type_id(ua.VariantType.Double) == ua.NodeId(ua.ObjectIds.Double)
    assert data_type_id(ua.VariantType.UInt64) == ua.NodeId(ua.ObjectIds.UInt64)
    assert data_type_id(ua.VariantType.String) == ua.NodeId(ua.ObjectIds.String)


@pytest.mark.parametrize(
    ("value", "vtype", "expected"),
    [
        (True, ua.VariantType.Boolean, True),
        (-7, ua.VariantType.Int16, -7),
        (3, ua.VariantType.Double, 3.0),
        (2.5, ua.VariantType.Float, 2.5),
        ("SN-1", ua.VariantType.String, "SN-1"),
    ],
)
def test_checked_value_accepts_the_right_python_type(
    value: object, vtype: ua.VariantType, expected: object
) -> None:
    checked = checked_value(value, vtype)
    assert checked == expected
    assert type(checked) is type(expected)


@pytest.mark.parametrize(
    ("value", "vtype"),
    [
        (1.5, ua.VariantType.UInt16),
        (True, ua.VariantType.Int32),
        (1, ua.VariantType.Boolean),
        (None, ua.VariantType.Double),
        (7, ua.VariantType.String),
    ],
)
def test_checked_value_refuses_a_mistyped_value(value: object, vtype: ua.VariantType) -> None:
    with pytest.raises(TypeError, match=vtype.name):
        checked_value(value, vtype)
