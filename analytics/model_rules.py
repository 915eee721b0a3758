"""What a model file may contain, checked on its bytes before anything loads it (issue #14).

An ONNX tensor may keep its values in another file ("external data": `data_location`
EXTERNAL and a `location`, `offset` and `length`), and onnxruntime reads that file while
it loads the model. A model whose initializer named the session key file turned the key's
bytes into an anomaly score on the page, and an engineer forged an admin cookie with it.
The gateway's own recipes never write external data (analytics.training.export keeps every
tensor in the file), so every model that has any is refused, wherever its `location`
points; so are operator domains and opset versions beyond what the recipes export
(`OPSETS`, which the export itself uses), model-local functions (which would let a node
name a domain of the file's choosing), and tensors whose declared sizes exceed what a
load may take.

The check reads the protobuf wire format itself: `onnx` is a training dependency, not the
gateway's (pyproject.toml), and only a few fields matter here. It visits every place
onnx.proto can hold a tensor (initializers, sparse initializers, node attributes, their
subgraphs, training graphs) and every declared shape. Nothing here imports numpy or
onnxruntime: the gateway runs it before it starts the bounded child that loads and tries
the model (analytics.model_check), so a refused file never reaches onnxruntime.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from analytics.model_file import ModelError

# The operator sets the gateway loads models of, with the highest version of each: what
# the recipes export (analytics.training.export converts and builds with these). The
# default domain has two spellings ("" and "ai.onnx").
OPSETS: dict[str, int] = {"": 18, "ai.onnx.ml": 3}
_DEFAULT_DOMAIN_ALIAS = "ai.onnx"

# What a model load may declare when the caller gives no budget (`uvelka evaluate`, the
# configuration check): the default of [analytics] check_memory_mib, which bounds the
# gateway's own checks.
DEFAULT_LOAD_BYTES = 512 * 2**20

# Bytes per element of TensorProto.DataType; string tensors are counted by their bytes.
_ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4,
                  13: 8, 14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1,
                  23: 1}
_LARGEST_ELEMENT = 16  # an element type this table does not know counts as the largest
_STRING = 8
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

# Field numbers of onnx.proto (IR version 10) that the check reads.
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 8, 20, 25
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_GRAPH_SHAPES = (11, 12, 13)  # input, output, value_info: ValueInfoProto
_TRAINING_GRAPHS = (1, 2)  # initialization, algorithm
_NODE_OP, _NODE_ATTRIBUTE, _NODE_DOMAIN = 4, 5, 7
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS = 5, 6, 10, 11
_ATTR_SPARSE, _ATTR_SPARSES, _ATTR_TYPE, _ATTR_TYPES = 22, 23, 14, 15
_SPARSE_TENSORS = (1, 2)  # values, indices
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_STRINGS, _TENSOR_NAME = 1, 2, 6, 8
_TENSOR_EXTERNAL, _TENSOR_LOCATION = 13, 14
_VALUE_TYPE = 2
_ATTRIBUTE_PARTS = frozenset({_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS,
                              _ATTR_SPARSE, _ATTR_SPARSES, _ATTR_TYPE, _ATTR_TYPES})
_TENSOR_PARTS = frozenset({_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_STRINGS, _TENSOR_NAME,
                           _TENSOR_EXTERNAL, _TENSOR_LOCATION})
_TYPE_TENSOR, _TYPE_SEQUENCE, _TYPE_MAP, _TYPE_SPARSE, _TYPE_OPTIONAL = 1, 4, 5, 8, 9
_TYPE_PARTS = frozenset({_TYPE_TENSOR, _TYPE_SEQUENCE, _TYPE_MAP, _TYPE_SPARSE, _TYPE_OPTIONAL})
_SHAPE_DIM, _DIM_VALUE = 1, 1
_ENTRY_KEY, _ENTRY_VALUE = 1, 2

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
# Deeper than any model a recipe makes (subgraphs of subgraphs); a bound for the recursion.
_MAX_DEPTH = 32


@dataclass
class _Totals:
    declared_bytes: int = 0


def check_model_bytes(data: bytes, source: str, load_bytes: int = DEFAULT_LOAD_BYTES) -> None:
    """Refuse (ModelError with the reason, naming `source`) a model file with external
    data, a model-local function, an operator domain or opset the gateway does not use, or
    tensors declaring more than `load_bytes` together (any one shape included)."""
    try:
        _check(memoryview(data), source, load_bytes)
    except _Malformed as exc:
        raise ModelError(f"{source}: not a loadable ONNX model: {exc}") from None


class _Malformed(Exception):
    """The bytes are not a protobuf message of the expected shape."""


def _check(data: memoryview, source: str, load_bytes: int) -> None:
    totals = _Totals()
    graphs = 0
    wanted = {_MODEL_OPSET, _MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS}
    for number, value in _fields(data, wanted):
        if number == _MODEL_OPSET:
            _check_opset(_message(value), source)
        elif number == _MODEL_GRAPH:
            graphs += 1
            _graph(_message(value), source, load_bytes, totals, 0)
        elif number == _MODEL_TRAINING:
            for inner, graph in _fields(_message(value), _TRAINING_GRAPHS):
                if inner in _TRAINING_GRAPHS:
                    _graph(_message(graph), source, load_bytes, totals, 1)
        elif number == _MODEL_FUNCTIONS:
            raise ModelError(f"{source}: the model defines its own functions, which the "
                             "gateway's recipes never export; refused")
    if graphs != 1:
        raise _Malformed("no graph")


def _check_opset(message: memoryview, source: str) -> None:
    domain, version = "", 0
    for number, value in _fields(message, {_OPSET_DOMAIN, _OPSET_VERSION}):
        if number == _OPSET_DOMAIN:
            domain = _text(value)
        elif number == _OPSET_VERSION:
            version = _integer(value)
    highest = OPSETS.get("" if domain == _DEFAULT_DOMAIN_ALIAS else domain)
    if highest is None:
        raise ModelError(f"{source}: imports the operator set {domain!r}, which the gateway "
                         f"does not run (it runs {_allowed()}); refused")
    if version > highest:
        raise ModelError(f"{source}: imports {domain or 'ai.onnx'} opset {version}, newer "
                         f"than the gateway runs ({_allowed()}); refused")


def _allowed() -> str:
    return ", ".join(f"{domain or 'ai.onnx'} up to opset {v}" for domain, v in OPSETS.items())


def _graph(graph: memoryview, source: str, load_bytes: int, totals: _Totals,
           depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ModelError(f"{source}: subgraphs nested deeper than {_MAX_DEPTH}; refused")
    wanted = {_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE, *_GRAPH_SHAPES}
    for number, value in _fields(graph, wanted):
        if number == _GRAPH_NODE:
            _node(_message(value), source, load_bytes, totals, depth)
        elif number == _GRAPH_INITIALIZER:
            _tensor(_message(value), source, load_bytes, totals)
        elif number == _GRAPH_SPARSE:
            _sparse(_message(value), source, load_bytes, totals)
        elif number in _GRAPH_SHAPES:
            for inner, kind in _fields(_message(value), {_VALUE_TYPE}):
                if inner == _VALUE_TYPE:
                    _declared_type(_message(kind), source, load_bytes, depth)


def _node(node: memoryview, source: str, load_bytes: int, totals: _Totals,
          depth: int) -> None:
    domain, op = "", ""
    for number, value in _fields(node, {_NODE_DOMAIN, _NODE_OP, _NODE_ATTRIBUTE}):
        if number == _NODE_DOMAIN:
            domain = _text(value)
        elif number == _NODE_OP:
            op = _text(value)
        elif number == _NODE_ATTRIBUTE:
            _attribute(_message(value), source, load_bytes, totals, depth)
    if domain not in OPSETS and domain != _DEFAULT_DOMAIN_ALIAS:
        raise ModelError(f"{source}: node {op!r} of the operator domain {domain!r}, which "
                         f"the gateway does not run (it runs {_allowed()}); refused")


def _attribute(attribute: memoryview, source: str, load_bytes: int, totals: _Totals,
               depth: int) -> None:
    for number, value in _fields(attribute, _ATTRIBUTE_PARTS):
        if number in (_ATTR_TENSOR, _ATTR_TENSORS):
            _tensor(_message(value), source, load_bytes, totals)
        elif number in (_ATTR_SPARSE, _ATTR_SPARSES):
            _sparse(_message(value), source, load_bytes, totals)
        elif number in (_ATTR_GRAPH, _ATTR_GRAPHS):
            _graph(_message(value), source, load_bytes, totals, depth + 1)
        elif number in (_ATTR_TYPE, _ATTR_TYPES):
            _declared_type(_message(value), source, load_bytes, depth)


def _sparse(sparse: memoryview, source: str, load_bytes: int, totals: _Totals) -> None:
    for number, value in _fields(sparse, _SPARSE_TENSORS):
        if number in _SPARSE_TENSORS:
            _tensor(_message(value), source, load_bytes, totals)


def _tensor(tensor: memoryview, source: str, load_bytes: int, totals: _Totals) -> None:
    dims: list[int] = []
    element_type, strings, name = 0, 0, ""
    external: list[tuple[str, str]] = []
    location = 0
    for number, value in _fields(tensor, _TENSOR_PARTS):
        if number == _TENSOR_DIMS:
            dims += _integers(value)
        elif number == _TENSOR_TYPE:
            element_type = _integer(value)
        elif number == _TENSOR_STRINGS:
            strings += len(_message(value))
        elif number == _TENSOR_NAME:
            name = _text(value)
        elif number == _TENSOR_EXTERNAL:
            external.append(_entry(_message(value)))
        elif number == _TENSOR_LOCATION:
            location = _integer(value)
    if location == _EXTERNAL or external:
        where = dict(external).get("location")
        named = f" in {where!r}" if where is not None else ""
        raise ModelError(f"{source}: tensor {name!r} keeps its values in another file{named} "
                         "(external data); a model file must hold all of its tensors, "
                         "refused")
    size = _bytes_of(dims, element_type) if element_type != _STRING else strings
    totals.declared_bytes += size
    if totals.declared_bytes > load_bytes:
        raise ModelError(f"{source}: tensor {name!r} {_shape(dims)} brings the model's "
                         f"tensors to {_mib(totals.declared_bytes)}, more than a model load "
                         f"may take ({_mib(load_bytes)}); refused")


def _declared_type(kind: memoryview, source: str, load_bytes: int, depth: int) -> None:
    """A declared shape (inputs, outputs, value_info): refused when one value of it would
    take more than `load_bytes`."""
    if depth > _MAX_DEPTH:
        raise ModelError(f"{source}: types nested deeper than {_MAX_DEPTH}; refused")
    for number, value in _fields(kind, _TYPE_PARTS):
        if number in (_TYPE_TENSOR, _TYPE_SPARSE):
            element_type, dims = 0, []
            for inner, part in _fields(_message(value), {1, 2}):
                if inner == 1:
                    element_type = _integer(part)
                elif inner == 2:
                    dims = _shape_dims(_message(part))
            if _bytes_of(dims, element_type) > load_bytes:
                raise ModelError(f"{source}: declares a tensor {_shape(dims)}, more than a "
                                 f"model load may take ({_mib(load_bytes)}); refused")
        elif number in (_TYPE_SEQUENCE, _TYPE_OPTIONAL, _TYPE_MAP):
            for inner, part in _fields(_message(value), {1, 2}):
                if inner in (1, 2) and not (number == _TYPE_MAP and inner == 1):
                    _declared_type(_message(part), source, load_bytes, depth + 1)


def _shape_dims(shape: memoryview) -> list[int]:
    dims = []
    for number, dim in _fields(shape, {_SHAPE_DIM}):
        if number == _SHAPE_DIM:
            # A symbolic dimension (dim_param, a batch) declares nothing: counted as 1.
            values = [_integer(v) for _, v in _fields(_message(dim), {_DIM_VALUE})]
            dims.append(values[-1] if values else 1)
    return dims


def _bytes_of(dims: list[int], element_type: int) -> int:
    if any(dim < 0 for dim in dims):
        return 0  # onnxruntime refuses a negative dimension itself
    return math.prod(dims) * _ELEMENT_BYTES.get(element_type, _LARGEST_ELEMENT)


def _shape(dims: list[int]) -> str:
    return "[" + ", ".join(map(str, dims)) + "]"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _entry(entry: memoryview) -> tuple[str, str]:
    key = value = ""
    for number, part in _fields(entry, {_ENTRY_KEY, _ENTRY_VALUE}):
        if number == _ENTRY_KEY:
            key = _text(part)
        elif number == _ENTRY_VALUE:
            value = _text(part)
    return key, value


# The wire format (protobuf encoding): a field is a varint key (number << 3 | wire type)
# and a value: a varint, 8 or 4 bytes, or a varint length and that many bytes. onnx.proto
# is proto2, whose repeated numbers are not packed: a tree ensemble's attributes are runs
# of a hundred thousand fields, skipped by one regular expression each, not one by one.

def _fields(data: memoryview, wanted: Collection[int]) -> Iterator[tuple[int, int | memoryview]]:
    """The fields of a message whose number is in `wanted`, in order; the rest skipped."""
    position, end = 0, len(data)
    while position < end:
        start = position
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number not in wanted and wire != _BYTES and key < 0x80:
            run = _run(key).match(data, start)
            if run is None:
                raise _Malformed("a field runs past the end of the file")
            position = run.end()
        elif wire == _VARINT:
            value, position = _varint(data, position)
            yield number, value
        elif wire == _BYTES:
            length, position = _varint(data, position)
            if position + length > end:
                raise _Malformed("a field runs past the end of the file")
            if number in wanted:
                yield number, data[position:position + length]
            position += length
            if number not in wanted and key < 0x80:
                position = _skip_short(data, position, key)
        elif wire in (_FIXED64, _FIXED32):
            position += 8 if wire == _FIXED64 else 4
            if position > end:
                raise _Malformed("a field runs past the end of the file")
        else:
            raise _Malformed(f"wire type {wire} at byte {start}")


def _skip_short(data: memoryview, position: int, key: int) -> int:
    """Past a run of fields of the one-byte `key` holding under 128 bytes each (a tree
    ensemble's node modes), without a generator step per field."""
    end = len(data)
    while position + 1 < end and data[position] == key and data[position + 1] < 0x80:
        position += 2 + data[position + 1]
    if position > end:
        raise _Malformed("a field runs past the end of the file")
    return position


@functools.cache
def _run(key: int) -> re.Pattern[bytes]:
    """One or more fields of the one-byte `key`, of a fixed size or varints."""
    value = {_VARINT: rb"[\x80-\xff]{0,9}[\x00-\x7f]", _FIXED64: rb"[\s\S]{8}",
             _FIXED32: rb"[\s\S]{4}"}.get(key & 7)
    if value is None:
        raise _Malformed(f"wire type {key & 7}")
    return re.compile(b"(?:" + re.escape(bytes([key])) + value + b")+")


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Malformed("a number runs past the end of the file")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _message(value: int | memoryview) -> memoryview:
    if not isinstance(value, memoryview):
        raise _Malformed("a number where a message belongs")
    return value


def _text(value: int | memoryview) -> str:
    return bytes(_message(value)).decode("utf-8", "replace")


def _integer(value: int | memoryview) -> int:
    if not isinstance(value, int):
        raise _Malformed("a message where a number belongs")
    # int64 fields: two's complement in 64 bits.
    return value - (1 << 64) if value >= 1 << 63 else value


def _integers(value: int | memoryview) -> list[int]:
    """A repeated int64 field's values: one varint, or a packed run of them."""
    if isinstance(value, int):
        return [_integer(value)]
    numbers, position = [], 0
    while position < len(value):
        number, position = _varint(value, position)
        numbers.append(_integer(number))
    return numbers
