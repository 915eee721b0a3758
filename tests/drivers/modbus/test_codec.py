"""Codec: hand-computed register images, round trips for every type x order, range checks,
and a cross-check against pyModbusTCP's independent word/float helpers."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyModbusTCP import utils as tcp_utils

from drivers.base import ByteOrder, DataType, OutOfRange, ReadBlock, Table, Tag
from drivers.modbus.codec import (
    decode,
    decode_bit,
    decode_block,
    encode,
    encode_bit_in_word,
)

ABCD, CDAB, BADC, DCBA = ByteOrder.ABCD, ByteOrder.CDAB, ByteOrder.BADC, ByteOrder.DCBA
ORDERS = list(ByteOrder)
FLOAT_TYPES = [DataType.FLOAT32, DataType.FLOAT64]
# Written out rather than taken from the codec, so a wrong range there cannot hide.
INT_RANGES = {
    DataType.INT16: (-32768, 32767),
    DataType.UINT16: (0, 65535),
    DataType.INT32: (-2147483648, 2147483647),
    DataType.UINT32: (0, 4294967295),
    DataType.INT64: (-9223372036854775808, 9223372036854775807),
    DataType.UINT64: (0, 18446744073709551615),
}
INT_TYPES = list(INT_RANGES)
NUMERIC_TYPES = INT_TYPES + FLOAT_TYPES
WORD = st.integers(0, 0xFFFF)
FLT_MAX = 3.4028234663852886e38

# Property tests run on two noisy cores: time per example is no signal here.
PROPERTY = settings(deadline=None)


def make_tag(
    dtype: DataType, order: ByteOrder = ABCD, table: Table = Table.HOLDING, **fields: object
) -> Tag:
    return Tag(key=f"dev.{dtype}", table=table, address=0, type=dtype, order=order, **fields)


def float_bits(value: float) -> bytes:
    """Bit pattern of a double, so -0.0 != 0.0 and NaN payloads compare exactly."""
    return struct.pack(">d", value)


def reference_value_bytes(words: list[int], order: ByteOrder) -> bytes:
    """Big-endian value bytes by literally undoing the word and byte swaps (no struct tricks)."""
    if order.words_reversed:
        words = words[::-1]
    pairs = [word.to_bytes(2, "big") for word in words]
    if order.bytes_swapped:
        pairs = [pair[::-1] for pair in pairs]
    return b"".join(pairs)


def is_float32_signalling_nan(words: list[int], order: ByteOrder) -> bool:
    bits = int.from_bytes(reference_value_bytes(words, order), "big")
    exponent_all_ones = (bits & 0x7F800000) == 0x7F800000
    return exponent_all_ones and bool(bits & 0x007FFFFF) and not bits & 0x00400000


# Register images computed by hand: (type, order, extra tag fields, words, value).
# Every row must also encode back to exactly these words.
EXACT_IMAGES = [
    (DataType.INT16, ABCD, {}, [0x8000], -32768),
    (DataType.INT16, ABCD, {}, [0xFFFF], -1),
    (DataType.INT16, ABCD, {}, [0x7FFF], 32767),
    (DataType.INT16, CDAB, {}, [0xFFFE], -2),
    (DataType.INT16, BADC, {}, [0x0080], -32768),
    (DataType.INT16, DCBA, {}, [0xFEFF], -2),
    (DataType.UINT16, ABCD, {}, [0xFFFF], 65535),
    (DataType.UINT16, BADC, {}, [0x3412], 0x1234),
    (DataType.INT32, ABCD, {}, [0x8000, 0x0000], -2147483648),
    (DataType.INT32, ABCD, {}, [0x7FFF, 0xFFFF], 2147483647),
    (DataType.INT32, ABCD, {}, [0xFFFF, 0xFFFE], -2),
    (DataType.INT32, CDAB, {}, [0xFFFE, 0xFFFF], -2),
    (DataType.INT32, BADC, {}, [0xFFFF, 0xFEFF], -2),
    (DataType.INT32, DCBA, {}, [0xFEFF, 0xFFFF], -2),
    (DataType.INT32, CDAB, {}, [0x0000, 0x8000], -2147483648),
    (DataType.UINT32, ABCD, {}, [0xFFFF, 0xFFFF], 4294967295),
    (DataType.UINT32, ABCD, {}, [0x0001, 0x0000], 65536),
    (DataType.UINT32, CDAB, {}, [0x0000, 0x0001], 65536),
    (DataType.UINT32, BADC, {}, [0x0100, 0x0000], 65536),
    (DataType.UINT32, DCBA, {}, [0x0000, 0x0100], 65536),
    (DataType.INT64, ABCD, {}, [0x8000, 0, 0, 0], -9223372036854775808),
    (DataType.INT64, ABCD, {}, [0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF], 9223372036854775807),
    (DataType.INT64, CDAB, {}, [0, 0, 0, 0x8000], -9223372036854775808),
    (DataType.INT64, BADC, {}, [0x0080, 0, 0, 0], -9223372036854775808),
    (DataType.INT64, DCBA, {}, [0, 0, 0, 0x0080], -9223372036854775808),
    (DataType.INT64, ABCD, {}, [0x0000, 0x011F, 0x71FB, 0x04CB], 1234567890123),
    (DataType.INT64, CDAB, {}, [0x04CB, 0x71FB, 0x011F, 0x0000], 1234567890123),
    (DataType.INT64, BADC, {}, [0x0000, 0x1F01, 0xFB71, 0xCB04], 1234567890123),
    (DataType.INT64, DCBA, {}, [0xCB04, 0xFB71, 0x1F01, 0x0000], 1234567890123),
    (DataType.UINT64, ABCD, {}, [0xFFFF] * 4, 18446744073709551615),
    (DataType.UINT64, DCBA, {}, [0xFFFF] * 4, 18446744073709551615),
    (DataType.UINT64, CDAB, {}, [0x0001, 0, 0, 0], 1),
    # float32 123.456 is 0x42F6E979; the nearest float32 is 123.45600128173828.
    (DataType.FLOAT32, ABCD, {}, [0x42F6, 0xE979], 123.45600128173828),
    (DataType.FLOAT32, CDAB, {}, [0xE979, 0x42F6], 123.45600128173828),
    (DataType.FLOAT32, BADC, {}, [0xF642, 0x79E9], 123.45600128173828),
    (DataType.FLOAT32, DCBA, {}, [0x79E9, 0xF642], 123.45600128173828),
    (DataType.FLOAT32, ABCD, {}, [0x3F80, 0x0000], 1.0),
    (DataType.FLOAT32, ABCD, {}, [0xC000, 0x0000], -2.0),
    (DataType.FLOAT32, ABCD, {}, [0x8000, 0x0000], -0.0),
    (DataType.FLOAT32, ABCD, {}, [0x7F80, 0x0000], math.inf),
    (DataType.FLOAT32, CDAB, {}, [0x0000, 0xFF80], -math.inf),
    (DataType.FLOAT32, ABCD, {}, [0x7F7F, 0xFFFF], FLT_MAX),
    (DataType.FLOAT32, ABCD, {}, [0x7FC0, 0x0000], math.nan),
    (DataType.FLOAT64, ABCD, {}, [0x3FF0, 0, 0, 0], 1.0),
    (DataType.FLOAT64, CDAB, {}, [0, 0, 0, 0x3FF0], 1.0),
    (DataType.FLOAT64, BADC, {}, [0xF03F, 0, 0, 0], 1.0),
    (DataType.FLOAT64, DCBA, {}, [0, 0, 0, 0xF03F], 1.0),
    (DataType.FLOAT64, ABCD, {}, [0x405E, 0xDD2F, 0x1A9F, 0xBE77], 123.456),
    (DataType.FLOAT64, DCBA, {}, [0x77BE, 0x9F1A, 0x2FDD, 0x5E40], 123.456),
    # "AB CD" is 41 42 20 43 44 (+ NUL pad): the inner space stays, the pad goes.
    (DataType.STRING, ABCD, {"length": 6}, [0x4142, 0x2043, 0x4400], "AB CD"),
    (DataType.STRING, CDAB, {"length": 6}, [0x4400, 0x2043, 0x4142], "AB CD"),
    (DataType.STRING, BADC, {"length": 6}, [0x4241, 0x4320, 0x0044], "AB CD"),
    (DataType.STRING, DCBA, {"length": 6}, [0x0044, 0x4320, 0x4241], "AB CD"),
    (DataType.STRING, ABCD, {"length": 5}, [0x4142, 0x2043, 0x4400], "AB CD"),
    (DataType.STRING, DCBA, {"length": 5}, [0x0044, 0x4320, 0x4241], "AB CD"),
    (DataType.STRING, ABCD, {"length": 2}, [0xE9E8], "\u00e9\u00e8"),
    (DataType.BOOL, ABCD, {}, [0x0001], True),
    (DataType.BOOL, ABCD, {}, [0x0000], False),
    (DataType.BOOL, BADC, {}, [0x0100], True),
    # Scaled: raw * scale + offset, always a float.
    (DataType.UINT16, ABCD, {"scale": 0.5}, [100], 50.0),
    (DataType.INT16, ABCD, {"scale": 0.5, "offset": 10.0}, [0xFFFF], 9.5),
    (DataType.INT32, CDAB, {"scale": 2.0, "offset": -1.0}, [0xFFFE, 0xFFFF], -5.0),
    (DataType.FLOAT32, ABCD, {"scale": 2.0, "offset": 1.0}, [0x3F80, 0x0000], 3.0),
]

# Images whose value is right but which do not encode back to the same words.
DECODE_ONLY_IMAGES = [
    (DataType.STRING, ABCD, {"length": 4}, [0x4142, 0x2020], "AB"),  # space padding
    (DataType.STRING, ABCD, {"length": 4}, [0x4142, 0x0000], "AB"),
    (DataType.STRING, ABCD, {"length": 4}, [0x4100, 0x4200], "A\x00B"),  # inner NUL kept
    (DataType.STRING, ABCD, {"length": 3}, [0x4142, 0x4358], "ABC"),  # spare byte ignored
    (DataType.STRING, ABCD, {"length": 4}, [0x0000, 0x0000], ""),
    (DataType.BOOL, ABCD, {}, [0x8000], True),  # any non-zero register
    (DataType.BOOL, BADC, {}, [0x0001], True),
    (DataType.BOOL, ABCD, {"bit": 3}, [0x0008], True),
    (DataType.BOOL, ABCD, {"bit": 2}, [0x0008], False),
    (DataType.BOOL, ABCD, {"bit": 15}, [0x8000], True),
    (DataType.BOOL, ABCD, {"bit": 0}, [0xFFFE], False),
    (DataType.BOOL, CDAB, {"bit": 3}, [0x0008], True),  # one word: no word order
    (DataType.BOOL, BADC, {"bit": 3}, [0x0800], True),  # bits of the byte-swapped word
    (DataType.BOOL, BADC, {"bit": 3}, [0x0008], False),
    (DataType.BOOL, DCBA, {"bit": 8}, [0x0001], True),
]


def image_id(row: tuple) -> str:
    dtype, order, fields, words, _ = row
    extra = ",".join(f"{k}={v}" for k, v in fields.items())
    return f"{dtype}-{order}-{'-'.join(f'{w:04X}' for w in words)}{'-' + extra if extra else ''}"


def assert_same_value(actual: object, expected: object) -> None:
    assert type(actual) is type(expected)
    if isinstance(expected, float):
        assert isinstance(actual, float)
        if math.isnan(expected):
            assert math.isnan(actual)
        else:
            assert float_bits(actual) == float_bits(expected)
    else:
        assert actual == expected


@pytest.mark.parametrize("row", EXACT_IMAGES + DECODE_ONLY_IMAGES, ids=image_id)
def test_decode_hand_computed_image(row: tuple) -> None:
    dtype, order, fields, words, expected = row
    assert_same_value(decode(make_tag(dtype, order, **fields), words), expected)


@pytest.mark.parametrize("row", EXACT_IMAGES, ids=image_id)
def test_encode_hand_computed_image(row: tuple) -> None:
    dtype, order, fields, words, value = row
    assert encode(make_tag(dtype, order, **fields), value) == words


def test_unscaled_integers_stay_integers() -> None:
    assert type(decode(make_tag(DataType.UINT16), [7])) is int
    assert type(decode(make_tag(DataType.UINT16, scale=1.0, offset=0.0), [7])) is int
    assert decode(make_tag(DataType.UINT16, scale=1.0, offset=0.5), [7]) == 7.5


@PROPERTY
@given(data=st.data())
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", INT_TYPES)
def test_integer_round_trip(dtype: DataType, order: ByteOrder, data: st.DataObject) -> None:
    low, high = INT_RANGES[dtype]
    value = data.draw(st.integers(low, high))
    tag = make_tag(dtype, order)
    words = encode(tag, value)
    assert len(words) == tag.width
    assert all(0 <= word <= 0xFFFF for word in words)
    assert_same_value(decode(tag, words), value)


@PROPERTY
@given(value=st.floats(width=32))
@pytest.mark.parametrize("order", ORDERS)
def test_float32_round_trip(order: ByteOrder, value: float) -> None:
    # Bit-exact, -0.0 and +-inf included; NaN comes back as NaN (payload: see module doc).
    tag = make_tag(DataType.FLOAT32, order)
    assert_same_value(decode(tag, encode(tag, value)), value)


@PROPERTY
@given(value=st.floats())
@pytest.mark.parametrize("order", ORDERS)
def test_float64_round_trip_is_bit_exact_including_nan(order: ByteOrder, value: float) -> None:
    tag = make_tag(DataType.FLOAT64, order)
    assert float_bits(decode(tag, encode(tag, value))) == float_bits(value)


@PROPERTY
@given(data=st.data())
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", NUMERIC_TYPES)
def test_decode_matches_reference_byte_shuffle_and_words_round_trip(
    dtype: DataType, order: ByteOrder, data: st.DataObject
) -> None:
    tag = make_tag(dtype, order)
    words = data.draw(st.lists(WORD, min_size=tag.width, max_size=tag.width))
    value_bytes = reference_value_bytes(words, order)
    value = decode(tag, words)
    if dtype.is_float:
        expected = struct.unpack(">f" if dtype is DataType.FLOAT32 else ">d", value_bytes)[0]
    else:
        expected = int.from_bytes(value_bytes, "big", signed=dtype.name.startswith("INT"))
    assert_same_value(value, expected)
    if not (dtype is DataType.FLOAT32 and is_float32_signalling_nan(words, order)):
        assert encode(tag, value) == words


@PROPERTY
@given(
    text=st.text(st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=11),
    order=st.sampled_from(ORDERS),
)
@pytest.mark.parametrize("length", [11, 12])
def test_string_round_trip(length: int, text: str, order: ByteOrder) -> None:
    tag = make_tag(DataType.STRING, order, length=length)
    words = encode(tag, text)
    assert len(words) == 6
    assert decode(tag, words) == text.rstrip("\x00 ")


@PROPERTY
@given(
    data=st.data(),
    scale=st.sampled_from([0.1, 0.01, 2.5, -0.5, 1.0]),
    offset=st.floats(-1000, 1000),
)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", INT_TYPES)
def test_scaled_integer_round_trip(
    dtype: DataType, order: ByteOrder, data: st.DataObject, scale: float, offset: float
) -> None:
    assume(scale != 1.0 or offset != 0.0)
    low, high = INT_RANGES[dtype]
    # Beyond 2**40 the float engineering value no longer pins the raw integer.
    raw = data.draw(st.integers(max(low, -(2**40)), min(high, 2**40)))
    tag = make_tag(dtype, order, scale=scale, offset=offset)
    value = raw * scale + offset
    words = encode(tag, value)
    # The write lands on the raw integer the engineering value came from...
    assert words == encode(make_tag(dtype, order), raw)
    # ...and reads back as (nearly) the same engineering value.
    assert math.isclose(decode(tag, words), value, rel_tol=1e-12, abs_tol=1e-9)


@PROPERTY
@given(
    value=st.floats(-1e30, 1e30),
    scale=st.sampled_from([0.1, 2.5, -0.5]),
    offset=st.floats(-1000, 1000),
)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("dtype", "rel_tol"), [(DataType.FLOAT32, 1e-6), (DataType.FLOAT64, 1e-12)]
)
def test_scaled_float_round_trip(
    dtype: DataType, rel_tol: float, order: ByteOrder, value: float, scale: float, offset: float
) -> None:
    tag = make_tag(dtype, order, scale=scale, offset=offset)
    result = decode(tag, encode(tag, value))
    # Precision is relative to the raw value, which carries the offset too.
    assert math.isclose(result, value, rel_tol=rel_tol, abs_tol=rel_tol * (abs(offset) + 1))


@pytest.mark.parametrize(
    ("dtype", "fields", "value", "words"),
    [
        (DataType.INT16, {}, 2.5, [2]),  # ties to even
        (DataType.INT16, {}, 3.5, [4]),
        (DataType.INT16, {}, -1.6, [0xFFFE]),
        (DataType.UINT16, {}, -0.4, [0]),  # rounds into range
        (DataType.UINT16, {}, 65535, [0xFFFF]),
        (DataType.UINT16, {"scale": 0.1}, 12.34, [123]),
        (DataType.UINT16, {"scale": 0.1}, 6553.5, [0xFFFF]),
        (DataType.INT16, {"scale": 0.5, "offset": 10.0}, 9.5, [0xFFFF]),
        (DataType.UINT64, {}, 2**64 - 1, [0xFFFF] * 4),  # ints stay exact
        (DataType.FLOAT32, {}, 3, [0x4040, 0x0000]),
    ],
)
def test_encode_rounds_and_accepts_edges(
    dtype: DataType, fields: dict, value: float, words: list[int]
) -> None:
    assert encode(make_tag(dtype, **fields), value) == words


@pytest.mark.parametrize(
    ("dtype", "fields", "value"),
    [
        (DataType.UINT16, {}, 70000),
        (DataType.UINT16, {}, -1),
        (DataType.UINT16, {}, 65535.5),
        (DataType.INT16, {}, 32768),
        (DataType.INT16, {}, -32769),
        (DataType.UINT16, {"scale": 0.1}, 6553.6),
        (DataType.UINT32, {"scale": 0.1}, -0.1),
        (DataType.UINT32, {}, 2**32),
        (DataType.INT32, {}, math.inf),
        (DataType.INT16, {}, math.nan),
        (DataType.INT64, {}, 2**63),
        (DataType.UINT64, {}, 2**64),
        (DataType.UINT64, {}, 1e20),
        (DataType.INT64, {"scale": 2.0}, 10**400),
        (DataType.FLOAT32, {}, 1e39),
        (DataType.FLOAT32, {}, -3.5e38),
        (DataType.FLOAT32, {}, 10**400),
        (DataType.FLOAT32, {"scale": 0.5}, 3e38),
        (DataType.FLOAT64, {"scale": 1e-10}, 1e300),
        (DataType.STRING, {"length": 4}, "ABCDE"),
        (DataType.STRING, {"length": 4}, "\u20ac"),
    ],
)
def test_encode_out_of_range_raises_never_wraps(
    dtype: DataType, fields: dict, value: object
) -> None:
    with pytest.raises(OutOfRange):
        encode(make_tag(dtype, **fields), value)


def test_out_of_range_is_a_value_error_with_context() -> None:
    tag = Tag("press1.speed", Table.HOLDING, 10, DataType.UINT16)
    with pytest.raises(ValueError, match=r"press1\.speed: 70000 is outside uint16"):
        encode(tag, 70000)


@pytest.mark.parametrize(
    ("dtype", "table", "value"),
    [
        (DataType.INT16, Table.HOLDING, "12"),
        (DataType.INT16, Table.HOLDING, True),
        (DataType.FLOAT32, Table.HOLDING, None),
        (DataType.BOOL, Table.HOLDING, 1),
        (DataType.STRING, Table.HOLDING, 5),
        (DataType.BOOL, Table.COIL, 1),
    ],
)
def test_encode_wrong_kind_raises_type_error(dtype: DataType, table: Table, value: object) -> None:
    with pytest.raises(TypeError):
        encode(make_tag(dtype, table=table, length=4), value)


def test_coil_encodes_to_a_bool_and_decodes_from_one_bit() -> None:
    coil = make_tag(DataType.BOOL, table=Table.COIL)
    assert encode(coil, True) is True
    assert encode(coil, False) is False
    assert decode_bit(coil, [True]) is True
    assert decode_bit(coil, [0]) is False
    with pytest.raises(ValueError, match="expected 1 bit"):
        decode_bit(coil, [])


def test_decode_refuses_the_wrong_number_of_words() -> None:
    with pytest.raises(ValueError, match="expected 2 registers, got 1"):
        decode(make_tag(DataType.INT32), [1])


def test_bit_in_register_needs_the_current_word() -> None:
    with pytest.raises(ValueError, match="encode_bit_in_word"):
        encode(make_tag(DataType.BOOL, bit=3), True)


@pytest.mark.parametrize(
    ("order", "bit", "current", "value", "expected"),
    [
        (ABCD, 3, 0x0000, True, 0x0008),
        (ABCD, 3, 0xFFFF, False, 0xFFF7),
        (ABCD, 15, 0x0001, True, 0x8001),
        (ABCD, 0, 0x0000, False, 0x0000),
        (BADC, 0, 0x1234, True, 0x1334),  # bit 0 of the byte-swapped word is bit 8 on the wire
        (DCBA, 8, 0xFFFF, False, 0xFFFE),
    ],
)
def test_encode_bit_in_word(
    order: ByteOrder, bit: int, current: int, value: bool, expected: int
) -> None:
    assert encode_bit_in_word(make_tag(DataType.BOOL, order, bit=bit), current, value) == expected


@PROPERTY
@given(order=st.sampled_from(ORDERS), bit=st.integers(0, 15), current=WORD, value=st.booleans())
def test_encode_bit_in_word_touches_one_bit(
    order: ByteOrder, bit: int, current: int, value: bool
) -> None:
    tag = make_tag(DataType.BOOL, order, bit=bit)
    word = encode_bit_in_word(tag, current, value)
    assert decode(tag, [word]) is value
    assert bin(word ^ current).count("1") <= 1
    for other in set(range(16)) - {bit}:
        neighbour = make_tag(DataType.BOOL, order, bit=other)
        assert decode(neighbour, [word]) == decode(neighbour, [current])


@pytest.mark.parametrize(
    ("bit", "current", "message"),
    [
        (None, 0, "not a bit-in-register tag"),
        (16, 0, "not a bit-in-register tag"),
        (3, 0x10000, "is not 16-bit"),
        (3, -1, "is not 16-bit"),
    ],
)
def test_encode_bit_in_word_refuses_bad_input(bit: int | None, current: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_bit_in_word(make_tag(DataType.BOOL, bit=bit), current, True)


def test_decode_block_slices_each_tag_out_of_one_read() -> None:
    tags = (
        Tag("a", Table.HOLDING, 100, DataType.INT16),
        Tag("b", Table.HOLDING, 101, DataType.FLOAT32, order=CDAB),
        Tag("flag3", Table.HOLDING, 103, DataType.BOOL, bit=3),
        Tag("flag4", Table.HOLDING, 103, DataType.BOOL, bit=4),
        # 104..105 is a bridged gap
        Tag("name", Table.HOLDING, 106, DataType.STRING, length=4),
        Tag("speed", Table.HOLDING, 108, DataType.UINT32, scale=0.5),
    )
    block = ReadBlock(unit=1, table=Table.HOLDING, start=100, count=10, tags=tags)
    data = [0xFFFF, 0xE979, 0x42F6, 0x0008, 0xDEAD, 0xBEEF, 0x4142, 0x4300, 0x0001, 0x0000]
    assert decode_block(block, data) == [
        (tags[0], -1),
        (tags[1], 123.45600128173828),
        (tags[2], True),
        (tags[3], False),
        (tags[4], "ABC"),
        (tags[5], 32768.0),
    ]


def test_decode_block_of_bits_accepts_byte_padding() -> None:
    tags = (
        Tag("c10", Table.COIL, 10, DataType.BOOL),
        Tag("c12", Table.COIL, 12, DataType.BOOL),
        Tag("c17", Table.COIL, 17, DataType.BOOL),
    )
    block = ReadBlock(unit=1, table=Table.COIL, start=10, count=8, tags=tags)
    bits = [True, True, False, False, False, False, False, True]
    padded = bits + [False] * 8  # FC1 answers in whole bytes
    assert decode_block(block, padded) == [
        (tags[0], True),
        (tags[1], False),
        (tags[2], True),
    ]


def test_decode_block_refuses_a_short_answer() -> None:
    tag = Tag("a", Table.INPUT, 0, DataType.INT32)
    block = ReadBlock(unit=1, table=Table.INPUT, start=0, count=2, tags=(tag,))
    with pytest.raises(ValueError, match="only 1"):
        decode_block(block, [1])


# Independent cross-check: pyModbusTCP's own helpers cover big-endian (ABCD) and its
# "little endian" word order, which is a word swap with big-endian words (CDAB).
TCP_ORDERS = [(ABCD, True), (CDAB, False)]


@PROPERTY
@given(word=WORD)
def test_16bit_matches_pymodbustcp(word: int) -> None:
    assert decode(make_tag(DataType.INT16), [word]) == tcp_utils.get_2comp(word, 16)
    assert decode(make_tag(DataType.UINT16), [word]) == word
    for bit in range(16):
        tag = make_tag(DataType.BOOL, bit=bit)
        assert decode(tag, [word]) == tcp_utils.test_bit(word, bit)


@PROPERTY
@given(words=st.lists(WORD, min_size=2, max_size=2))
@pytest.mark.parametrize(("order", "big_endian"), TCP_ORDERS)
def test_32bit_decode_matches_pymodbustcp(
    words: list[int], order: ByteOrder, big_endian: bool
) -> None:
    long = tcp_utils.word_list_to_long(words, big_endian=big_endian)[0]
    assert decode(make_tag(DataType.UINT32, order), words) == long
    assert decode(make_tag(DataType.INT32, order), words) == tcp_utils.get_2comp(long, 32)
    ours = decode(make_tag(DataType.FLOAT32, order), words)
    theirs = tcp_utils.decode_ieee(long)
    assert float_bits(ours) == float_bits(theirs) or math.isnan(theirs) and math.isnan(ours)


@PROPERTY
@given(words=st.lists(WORD, min_size=4, max_size=4))
@pytest.mark.parametrize(("order", "big_endian"), TCP_ORDERS)
def test_64bit_decode_matches_pymodbustcp(
    words: list[int], order: ByteOrder, big_endian: bool
) -> None:
    long = tcp_utils.word_list_to_long(words, big_endian=big_endian, long_long=True)[0]
    assert decode(make_tag(DataType.UINT64, order), words) == long
    assert decode(make_tag(DataType.INT64, order), words) == tcp_utils.get_2comp(long, 64)
    ours = decode(make_tag(DataType.FLOAT64, order), words)
    assert float_bits(ours) == float_bits(tcp_utils.decode_ieee(long, double=True))


@PROPERTY
@given(
    value32=st.integers(-(2**31), 2**31 - 1),
    value64=st.integers(-(2**63), 2**63 - 1),
    float32=st.floats(width=32),
    float64=st.floats(),
)
@pytest.mark.parametrize(("order", "big_endian"), TCP_ORDERS)
def test_encode_matches_pymodbustcp(
    value32: int, value64: int, float32: float, float64: float, order: ByteOrder, big_endian: bool
) -> None:
    def words32(long: int) -> list[int]:
        return tcp_utils.long_list_to_word([long], big_endian=big_endian)

    def words64(long: int) -> list[int]:
        return tcp_utils.long_list_to_word([long], big_endian=big_endian, long_long=True)

    assert encode(make_tag(DataType.INT32, order), value32) == words32(
        tcp_utils.get_2comp(value32, 32)
    )
    assert encode(make_tag(DataType.INT64, order), value64) == words64(
        tcp_utils.get_2comp(value64, 64)
    )
    assert encode(make_tag(DataType.FLOAT32, order), float32) == words32(
        tcp_utils.encode_ieee(float32)
    )
    assert encode(make_tag(DataType.FLOAT64, order), float64) == words64(
        tcp_utils.encode_ieee(float64, double=True)
    )
