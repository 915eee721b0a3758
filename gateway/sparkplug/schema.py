"""The Sparkplug B payload schema, built here from the specification's facts (issue #16).

Sparkplug 3.0, chapter 6 "Payloads" gives the payload as a proto2 definition: its field
numbers, types and the DataType enum are the wire format, and that is all this module
takes from it. The descriptor is built in Python (descriptor_pb2) rather than compiled
from a .proto file: no protoc build step, no generated code, and no copy of Eclipse
Tahu's sparkplug_b.proto. Only what an edge node sends and reads is declared: the
payload, the metric, the property set and value; templates, data sets and metadata are
left out (a decoder skips their fields as unknown). The field names are the proto's, so
any Sparkplug decoder reads what this one writes (tests/gateway/sparkplug decodes with
Tahu's JavaScript `sparkplug-payload`).
"""

from __future__ import annotations

import enum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "uvelka.sparkplug_b"

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL = _F.LABEL_OPTIONAL
_REPEATED = _F.LABEL_REPEATED


class DataType(enum.IntEnum):
    """Sparkplug B data types (chapter 6, "Data Types"): the ones an edge node here uses."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14


# (name, number, type, label, message type or None, oneof index or None)
_Field = tuple[str, int, int, int, str | None, int | None]

_PROPERTY_VALUE: list[_Field] = [
    ("type", 1, _F.TYPE_UINT32, _OPTIONAL, None, None),
    ("is_null", 2, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("int_value", 3, _F.TYPE_UINT32, _OPTIONAL, None, 0),
    ("long_value", 4, _F.TYPE_UINT64, _OPTIONAL, None, 0),
    ("float_value", 5, _F.TYPE_FLOAT, _OPTIONAL, None, 0),
    ("double_value", 6, _F.TYPE_DOUBLE, _OPTIONAL, None, 0),
    ("boolean_value", 7, _F.TYPE_BOOL, _OPTIONAL, None, 0),
    ("string_value", 8, _F.TYPE_STRING, _OPTIONAL, None, 0),
]
_PROPERTY_SET: list[_Field] = [
    ("keys", 1, _F.TYPE_STRING, _REPEATED, None, None),
    ("values", 2, _F.TYPE_MESSAGE, _REPEATED, "PropertyValue", None),
]
_METRIC: list[_Field] = [
    ("name", 1, _F.TYPE_STRING, _OPTIONAL, None, None),
    ("alias", 2, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("timestamp", 3, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("datatype", 4, _F.TYPE_UINT32, _OPTIONAL, None, None),
    ("is_historical", 5, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("is_transient", 6, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("is_null", 7, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("properties", 9, _F.TYPE_MESSAGE, _OPTIONAL, "PropertySet", None),
    ("int_value", 10, _F.TYPE_UINT32, _OPTIONAL, None, 0),
    ("long_value", 11, _F.TYPE_UINT64, _OPTIONAL, None, 0),
    ("float_value", 12, _F.TYPE_FLOAT, _OPTIONAL, None, 0),
    ("double_value", 13, _F.TYPE_DOUBLE, _OPTIONAL, None, 0),
    ("boolean_value", 14, _F.TYPE_BOOL, _OPTIONAL, None, 0),
    ("string_value", 15, _F.TYPE_STRING, _OPTIONAL, None, 0),
    ("bytes_value", 16, _F.TYPE_BYTES, _OPTIONAL, None, 0),
]
_PAYLOAD: list[_Field] = [
    ("timestamp", 1, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("metrics", 2, _F.TYPE_MESSAGE, _REPEATED, "Metric", None),
    ("seq", 3, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("uuid", 4, _F.TYPE_STRING, _OPTIONAL, None, None),
    ("body", 5, _F.TYPE_BYTES, _OPTIONAL, None, None),
]


def _message(name: str, fields: list[_Field]) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    if any(oneof is not None for *_, oneof in fields):
        message.oneof_decl.add(name="value")
    for field_name, number, kind, label, type_name, oneof in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name is not None:
            field.type_name = f".{_PACKAGE}.Payload.{type_name}"
        if oneof is not None:
            field.oneof_index = oneof
    return message


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="uvelka/sparkplug_b.proto", package=_PACKAGE, syntax="proto2"
    )
    payload = _message("Payload", _PAYLOAD)
    payload.nested_type.extend([
        _message("PropertyValue", _PROPERTY_VALUE),
        _message("PropertySet", _PROPERTY_SET),
        _message("Metric", _METRIC),
    ])
    proto.message_type.append(payload)
    return proto


# A pool of its own: the default pool may hold Tahu's file if some other library
# loaded it, and two files defining one name cannot share a pool.
_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())

# protobuf's generated classes are typed Any to mypy: these are too.
Payload: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Payload"))
Metric: Any = Payload.Metric
PropertySet: Any = Payload.PropertySet
PropertyValue: Any = Payload.PropertyValue
