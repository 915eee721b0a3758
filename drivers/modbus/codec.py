"""Modbus register codec: register words <-> engineering values, pure and allocation-light.

Every (data type, byte order) pair gets its decoder and encoder built once at import, around
two precompiled `struct.Struct` objects, so decoding a value is one dict lookup, one pack and
one unpack. No protocol library is imported: pymodbus changed its conversion helpers between
releases more than once, and the codec must not move with it.

Conventions (see README.md in this folder for the wire examples):
- Byte order is word order x byte-in-word order (`ByteOrder`); for 16-bit values only the
  byte swap matters, for strings BADC/DCBA swap the two characters of each register and
  CDAB/DCBA reverse the register order.
- A bool in a register selects `tag.bit` (0 = least significant) of the 16-bit value read
  with the tag's byte order, exactly as a uint16 of that order would decode; without `bit`
  the bool is "register != 0".
- Strings are latin-1: every byte decodes to one character (no replacement characters, no
  decode errors) and round trips exactly; trailing NULs and spaces are stripped.
- Scale/offset (engineering = raw * scale + offset) apply to numeric tags only and only when
  not the identity; a scaled value is a float, an unscaled integer stays an int.
- Floats pass inf and NaN through both ways (devices use NaN for "no value"). Python < 3.14
  quiets a float32 signalling NaN when it widens it to a double, so only float32 sNaN
  payloads do not survive a decode/encode round trip.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

from drivers.base import BlockDecoder, ByteOrder, DataType, OutOfRange, ReadBlock, Table, Tag, Value

logger = logging.getLogger(__name__)

# (tag, data, index of the tag's first word in data) -> value
_Decoder: TypeAlias = Callable[[Tag, Sequence[int], int], Value]
_Encoder: TypeAlias = Callable[[Tag, object], list[int]]


_STRUCT_CODES: dict[DataType, str] = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

_INT_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(1 << 15), (1 << 15) - 1),
    DataType.UINT16: (0, (1 << 16) - 1),
    DataType.INT32: (-(1 << 31), (1 << 31) - 1),
    DataType.UINT32: (0, (1 << 32) - 1),
    DataType.INT64: (-(1 << 63), (1 << 63) - 1),
    DataType.UINT64: (0, (1 << 64) - 1),
}

_STRING_ENCODING = "latin-1"
_STRING_PADDING = "\x00 "


def _endians(order: ByteOrder) -> tuple[str, str]:
    """Struct endianness for (the wire words, the value) that realises `order`.

    Packing the wire words little-endian swaps the two bytes of every word; reading the value
    little-endian reverses the whole byte string, i.e. reverses the words *and* swaps bytes.
    Combining the two gives all four orders with no per-call reshuffling.
    """
    value = "<" if order.words_reversed else ">"
    words = "<" if order.words_reversed != order.bytes_swapped else ">"
    return words, value


def _swap16(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _numeric_decoder(dtype: DataType, order: ByteOrder) -> _Decoder:
    width = _fixed_width(dtype)
    words_endian, value_endian = _endians(order)
    pack = struct.Struct(f"{words_endian}{width}H").pack
    unpack = struct.Struct(f"{value_endian}{_STRUCT_CODES[dtype]}").unpack

    def decode_numeric(tag: Tag, data: Sequence[int], index: int) -> Value:
        raw: int | float = unpack(pack(*data[index : index + width]))[0]
        if tag.scaled:
            return raw * tag.scale + tag.offset
        return raw

    return decode_numeric


def _bool_decoder(order: ByteOrder) -> _Decoder:
    swapped = order.bytes_swapped

    def decode_bool(tag: Tag, data: Sequence[int], index: int) -> Value:
        word = data[index]
        if swapped:
            word = _swap16(word)
        if tag.bit is None:
            return word != 0
        return bool((word >> tag.bit) & 1)

    return decode_bool


def _string_decoder(order: ByteOrder) -> _Decoder:
    words_endian = "<" if order.bytes_swapped else ">"
    reverse = order.words_reversed

    def decode_string(tag: Tag, data: Sequence[int], index: int) -> Value:
        width = (tag.length + 1) // 2
        words = data[index : index + width]
        if reverse:
            words = words[::-1]
        raw = struct.pack(f"{words_endian}{width}H", *words)
        return raw[: tag.length].decode(_STRING_ENCODING).rstrip(_STRING_PADDING)

    return decode_string


def _numeric_argument(tag: Tag, value: object) -> int | float:
    # bool is an int subclass; accepting True as 1 would hide a client's type mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{tag.key}: a {tag.type} tag takes a number, got {value!r}")
    return value


def _unscale(tag: Tag, value: int | float) -> int | float:
    """The raw value before scale/offset; the identity keeps integers exact."""
    if not tag.scaled:
        return value
    try:
        return (value - tag.offset) / tag.scale
    except OverflowError:  # an int too large for a float
        raise OutOfRange(f"{tag.key}: {value!r} is out of range for {tag.type}") from None


def _integer_encoder(dtype: DataType, order: ByteOrder) -> _Encoder:
    width = _fixed_width(dtype)
    words_endian, value_endian = _endians(order)
    unpack = struct.Struct(f"{words_endian}{width}H").unpack
    pack = struct.Struct(f"{value_endian}{_STRUCT_CODES[dtype]}").pack
    low, high = _INT_RANGES[dtype]

    def encode_integer(tag: Tag, value: object) -> list[int]:
        number = _numeric_argument(tag, value)
        raw = _unscale(tag, number)
        if isinstance(raw, float):
            if not math.isfinite(raw):
                raise OutOfRange(f"{tag.key}: {value!r} is not a finite number for {dtype}")
            raw = round(raw)  # nearest, ties to even
        if not low <= raw <= high:
            detail = f" (raw {raw} after scale/offset)" if tag.scaled else ""
            raise OutOfRange(
                f"{tag.key}: {value!r}{detail} is outside {dtype} range [{low}, {high}]"
            )
        return list(unpack(pack(raw)))

    return encode_integer


def _float_encoder(dtype: DataType, order: ByteOrder) -> _Encoder:
    width = _fixed_width(dtype)
    words_endian, value_endian = _endians(order)
    unpack = struct.Struct(f"{words_endian}{width}H").unpack
    pack = struct.Struct(f"{value_endian}{_STRUCT_CODES[dtype]}").pack

    def encode_float(tag: Tag, value: object) -> list[int]:
        number = _numeric_argument(tag, value)
        try:
            raw = float(_unscale(tag, float(number)))
            if math.isinf(raw) and not math.isinf(number):
                raise OverflowError
            return list(unpack(pack(raw)))
        except OverflowError:  # from float(), the scaling, or struct rounding to infinity
            raise OutOfRange(f"{tag.key}: {value!r} is outside the {dtype} range") from None

    return encode_float


def _bool_encoder(order: ByteOrder) -> _Encoder:
    swapped = order.bytes_swapped

    def encode_bool(tag: Tag, value: object) -> list[int]:
        if tag.bit is not None:
            raise ValueError(
                f"{tag.key}: a bit in a register needs the current word; use encode_bit_in_word()"
            )
        word = int(_bool_argument(tag, value))
        return [_swap16(word) if swapped else word]

    return encode_bool


def _string_encoder(order: ByteOrder) -> _Encoder:
    words_endian = "<" if order.bytes_swapped else ">"
    reverse = order.words_reversed

    def encode_string(tag: Tag, value: object) -> list[int]:
        if not isinstance(value, str):
            raise TypeError(f"{tag.key}: a string tag takes a str, got {value!r}")
        try:
            raw = value.encode(_STRING_ENCODING)
        except UnicodeEncodeError as exc:
            raise OutOfRange(f"{tag.key}: {value!r} is not latin-1 text ({exc.reason})") from None
        if len(raw) > tag.length:
            raise OutOfRange(f"{tag.key}: {value!r} is longer than {tag.length} characters")
        width = (tag.length + 1) // 2
        words = list(struct.unpack(f"{words_endian}{width}H", raw.ljust(2 * width, b"\x00")))
        if reverse:
            words.reverse()
        return words

    return encode_string


def _bool_argument(tag: Tag, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{tag.key}: a bool tag takes True or False, got {value!r}")
    return value


def _fixed_width(dtype: DataType) -> int:
    width = dtype.fixed_words
    if width is None:
        raise ValueError(f"{dtype} has no fixed width")
    return width


def _build() -> tuple[
    dict[tuple[DataType, ByteOrder], _Decoder], dict[tuple[DataType, ByteOrder], _Encoder]
]:
    decoders: dict[tuple[DataType, ByteOrder], _Decoder] = {}
    encoders: dict[tuple[DataType, ByteOrder], _Encoder] = {}
    for order in ByteOrder:
        for dtype in DataType:
            key = (dtype, order)
            if dtype is DataType.BOOL:
                decoders[key], encoders[key] = _bool_decoder(order), _bool_encoder(order)
            elif dtype is DataType.STRING:
                decoders[key], encoders[key] = _string_decoder(order), _string_encoder(order)
            elif dtype.is_float:
                decoders[key] = _numeric_decoder(dtype, order)
                encoders[key] = _float_encoder(dtype, order)
            else:
                decoders[key] = _numeric_decoder(dtype, order)
                encoders[key] = _integer_encoder(dtype, order)
    return decoders, encoders


_DECODERS, _ENCODERS = _build()


def decode(tag: Tag, words: Sequence[int]) -> Value:
    """The engineering value of a register tag from exactly its `tag.width` words."""
    if len(words) != tag.width:
        raise ValueError(f"{tag.key}: expected {tag.width} registers, got {len(words)}")
    return _DECODERS[tag.type, tag.order](tag, words, 0)


def decode_bit(tag: Tag, bits: Sequence[bool]) -> bool:
    """The value of a coil or discrete-input tag from its one bit."""
    if len(bits) != 1:
        raise ValueError(f"{tag.key}: expected 1 bit, got {len(bits)}")
    return bool(bits[0])


def decode_block(block: ReadBlock, data: Sequence[int] | Sequence[bool]) -> list[tuple[Tag, Value]]:
    """Every tag of `block` with its value, from the data one read of the block returned."""
    return list(zip(block.tags, block_decoder(block)(data), strict=True))


def block_decoder(block: ReadBlock) -> BlockDecoder:
    """`block`'s decoding, planned once: the data of one read -> its tags' values, in the
    order of `block.tags`; ValueError for an answer shorter than the block.

    A poll loop decodes the same blocks every cycle, and at 15,000 values/s one call per
    value was most of the decoding's cost (issue #17). So the work that depends only on
    the block is done here: the numeric tags that share a byte order and do not overlap
    are read by one `struct` unpack over the whole block (the words of other tags and of
    gaps skipped as padding); bools in registers, strings and overlapping tags keep their
    own decoders.
    """
    start, count = block.start, block.count
    where = f"{block.table} {start}+{count}"
    if block.table.is_bit:
        offsets = [tag.address - start for tag in block.tags]

        def decode_bits(data: Sequence[int] | Sequence[bool]) -> list[Value]:
            _check_length(where, count, data)
            return [bool(data[offset]) for offset in offsets]

        return decode_bits

    runs: dict[tuple[str, str], list[tuple[int, Tag]]] = {}  # by (words, value) endians
    singles: list[tuple[int, Tag]] = []
    for index, tag in sorted(enumerate(block.tags), key=lambda item: item[1].address):
        run = runs.setdefault(_endians(tag.order), []) if tag.type.is_numeric else None
        if run is not None and (not run or run[-1][1].end <= tag.address):
            run.append((index, tag))
        else:
            singles.append((index, tag))
    steps = [
        (struct.Struct(f"{words}{count}H").pack, _run_struct(value, run, start).unpack_from)
        for (words, value), run in runs.items()
    ]
    in_runs = [item for run in runs.values() for item in run]
    scaled = [(at, tag.scale, tag.offset) for at, (_, tag) in enumerate(in_runs) if tag.scaled]
    one_by_one = [(tag, _DECODERS[tag.type, tag.order], tag.address - start) for _, tag in singles]
    # Values come out runs first, then the singles; put them back in the block's order.
    decoded = [index for index, _ in in_runs + singles]
    in_order = list(range(len(decoded)))
    reorder = None if decoded == in_order else [decoded.index(index) for index in in_order]

    def decode_words(data: Sequence[int] | Sequence[bool]) -> list[Value]:
        _check_length(where, count, data)
        if len(data) != count:
            data = data[:count]
        values: list[Value] = []
        for pack, unpack in steps:
            values += unpack(pack(*data))
        for tag, decode_one, index in one_by_one:
            values.append(decode_one(tag, data, index))
        for at, scale, offset in scaled:
            values[at] = cast(float, values[at]) * scale + offset
        return values if reorder is None else [values[at] for at in reorder]

    return decode_words


def _check_length(where: str, count: int, data: Sequence[int] | Sequence[bool]) -> None:
    # Bit reads come back padded to whole bytes, so only a short answer is an error.
    if len(data) < count:
        raise ValueError(f"{where}: read returned only {len(data)} items")


def _run_struct(value_endian: str, run: list[tuple[int, Tag]], start: int) -> struct.Struct:
    """One format for a run of numeric tags in address order, from the block's start."""
    parts, at = [value_endian], start
    for _, tag in run:
        if tag.address > at:
            parts.append(f"{2 * (tag.address - at)}x")
        parts.append(_STRUCT_CODES[tag.type])
        at = tag.end
    return struct.Struct("".join(parts))


def encode(tag: Tag, value: object) -> list[int] | bool:
    """The raw form to write for `value`: register words, or a bool for a coil tag.

    Inverts scale/offset (integers round to nearest, ties to even) and raises OutOfRange
    rather than wrapping; TypeError when the value's kind does not match the tag.
    """
    if tag.table.is_bit:
        return _bool_argument(tag, value)
    return _ENCODERS[tag.type, tag.order](tag, value)


def encode_bit_in_word(tag: Tag, current_word: int, value: object) -> int:
    """`current_word` with the tag's bit set or cleared, for a read-modify-write."""
    if tag.bit is None or not 0 <= tag.bit <= 15:
        raise ValueError(f"{tag.key}: not a bit-in-register tag (bit={tag.bit!r})")
    if not 0 <= current_word <= 0xFFFF:
        raise ValueError(f"{tag.key}: register word {current_word!r} is not 16-bit")
    mask = 1 << tag.bit
    if tag.order.bytes_swapped:
        mask = _swap16(mask)
    if _bool_argument(tag, value):
        return current_word | mask
    return current_word & ~mask


@dataclass(frozen=True, slots=True)
class Decoding:
    """One reading of register words: as `data_type` in `byte_order`, and how to show it."""

    data_type: DataType
    byte_order: ByteOrder
    value: Value | None  # None: a string decoding that is not printable text
    text: str


# In one register only the byte swap matters: CDAB reads like ABCD, DCBA like BADC.
_ONE_WORD_ORDERS = (ByteOrder.ABCD, ByteOrder.BADC)


def decode_every_way(words: Sequence[int]) -> list[Decoding]:
    """`words` read as every numeric type in every byte order that fits them (from the first
    word), then all of them as a string in each order: the byte-order helper's table."""
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register words must be 0..65535 (got {word!r})")
    decodings: list[Decoding] = []
    for dtype in DataType:
        width = dtype.fixed_words
        if not dtype.is_numeric or width is None or width > len(words):
            continue
        for order in _orders(width):
            value = decode(Tag("", Table.HOLDING, 0, dtype, order), words[:width])
            decodings.append(Decoding(dtype, order, value, _shown(dtype, value)))
    if words:
        for order in _orders(len(words)):
            tag = Tag("", Table.HOLDING, 0, DataType.STRING, order, length=2 * len(words))
            text = str(decode(tag, words))
            printable = text.isprintable()
            decodings.append(
                Decoding(DataType.STRING, order, text if printable else None, _escaped(text))
            )
    return decodings


def _orders(width: int) -> tuple[ByteOrder, ...]:
    return _ONE_WORD_ORDERS if width == 1 else tuple(ByteOrder)


def _shown(dtype: DataType, value: Value) -> str:
    if dtype is DataType.FLOAT32:
        # A float32 widened to a double shows noise digits (1.100000023841858): a float32
        # holds about 7 significant digits.
        return f"{value:.7g}"
    return repr(value)


def _escaped(text: str) -> str:
    return "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text)
