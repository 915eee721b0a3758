"""The byte-order helper's table: register words read as every type in every byte order,
checked against pyModbusTCP's independent helpers and a plain struct reading."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyModbusTCP import utils as tcp_utils

from drivers.base import ByteOrder, DataType
from drivers.modbus.codec import Decoding, decode_every_way

ABCD, CDAB, BADC, DCBA = ByteOrder.ABCD, ByteOrder.CDAB, ByteOrder.BADC, ByteOrder.DCBA
WORD = st.integers(0, 0xFFFF)
STRUCT_CODES = {
    DataType.INT16: "h", DataType.UINT16: "H", DataType.INT32: "i", DataType.UINT32: "I",
    DataType.INT64: "q", DataType.UINT64: "Q", DataType.FLOAT32: "f", DataType.FLOAT64: "d",
}


def swapped(words: list[int]) -> list[int]:
    return [((word & 0xFF) << 8) | (word >> 8) for word in words]


def table(words: list[int]) -> dict[tuple[DataType, ByteOrder], Decoding]:
    decodings = decode_every_way(words)
    by_key = {(d.data_type, d.byte_order): d for d in decodings}
    assert len(by_key) == len(decodings), "one decoding per type and order"
    return by_key


def by_struct(dtype: DataType, order: ByteOrder, words: list[int]) -> float | int:
    """The value read the slow, obvious way: put the bytes back in A B C D order."""
    width = struct.calcsize(STRUCT_CODES[dtype]) // 2
    chunk = words[:width]
    if order.words_reversed:
        chunk = chunk[::-1]
    if order.bytes_swapped:
        chunk = swapped(chunk)
    value: float | int = struct.unpack(">" + STRUCT_CODES[dtype],
                                       struct.pack(f">{width}H", *chunk))[0]
    return value


@pytest.mark.parametrize("order", list(ByteOrder))
def test_float32_one_and_a_half_is_found_in_its_order(order: ByteOrder) -> None:
    # pyModbusTCP lays out the words: big-endian (ABCD) or low word first (CDAB).
    raw = tcp_utils.encode_ieee(1.5)
    words = tcp_utils.long_list_to_word([raw], big_endian=not order.words_reversed)
    if order.bytes_swapped:
        words = swapped(words)
    assert words == {ABCD: [0x3FC0, 0], CDAB: [0, 0x3FC0], BADC: [0xC03F, 0],
                     DCBA: [0, 0xC03F]}[order]

    found = table(words)[DataType.FLOAT32, order]

    assert found.value == 1.5
    assert found.text == "1.5"
    others = [d.value for (t, o), d in table(words).items() if t is DataType.FLOAT32 and o != order]
    assert 1.5 not in others


def test_what_fits_in_the_words_given() -> None:
    assert decode_every_way([]) == []
    one = table([0x1234])
    assert set(one) == {
        (DataType.INT16, ABCD), (DataType.INT16, BADC),
        (DataType.UINT16, ABCD), (DataType.UINT16, BADC),
        (DataType.STRING, ABCD), (DataType.STRING, BADC),
    }
    three = table([1, 2, 3])
    assert {t for t, _ in three} == {DataType.INT16, DataType.UINT16, DataType.INT32,
                                     DataType.UINT32, DataType.FLOAT32, DataType.STRING}
    assert len(table([1, 2, 3, 4])) == 4 + 3 * 4 + 3 * 4 + 4


def test_sixteen_bit_values_and_their_byte_swap() -> None:
    found = table([0xFFFE])
    assert found[DataType.INT16, ABCD].value == -2
    assert found[DataType.UINT16, ABCD].value == 0xFFFE
    assert found[DataType.INT16, BADC].value == -257  # 0xFEFF
    assert found[DataType.UINT16, BADC].text == "65279"


def test_strings_in_each_order_and_bytes_that_are_not_text() -> None:
    found = table([0x5055, 0x4D50])  # "PUMP"
    assert {order: found[DataType.STRING, order].value for order in ByteOrder} == {
        ABCD: "PUMP", BADC: "UPPM", CDAB: "MPPU", DCBA: "PMUP",
    }
    binary = table([0x0107, 0x4100])[DataType.STRING, ABCD]
    assert binary.value is None
    assert binary.text == "\\x01\\x07A"  # the codec strips the trailing NUL


def test_floats_show_few_digits_and_specials() -> None:
    point_one = struct.unpack(">2H", struct.pack(">f", 0.1))
    assert table(list(point_one))[DataType.FLOAT32, ABCD].text == "0.1"
    nan = table([0x7FC0, 0, 0, 0])
    assert math.isnan(nan[DataType.FLOAT32, ABCD].value)
    assert nan[DataType.FLOAT32, ABCD].text == "nan"
    infinity = struct.unpack(">4H", struct.pack(">d", -math.inf))
    assert table(list(infinity))[DataType.FLOAT64, ABCD].text == "-inf"


def test_words_must_be_registers() -> None:
    with pytest.raises(ValueError, match="65536"):
        decode_every_way([1, 65536])


@given(st.lists(WORD, min_size=4, max_size=4))
def test_every_numeric_reading_matches_struct_and_pymodbustcp(words: list[int]) -> None:
    found = table(words)
    for (dtype, order), decoding in found.items():
        if dtype is DataType.STRING:
            continue
        expected = by_struct(dtype, order, words)
        if isinstance(expected, float) and math.isnan(expected):
            assert isinstance(decoding.value, float)
            assert math.isnan(decoding.value)
        else:
            assert decoding.value == expected, (dtype, order)
    # pyModbusTCP's own helpers, for the word orders it knows (it never swaps bytes).
    for order, big_endian in ((ABCD, True), (CDAB, False)):
        long32 = tcp_utils.word_list_to_long(words[:2], big_endian=big_endian)[0]
        long64 = tcp_utils.word_list_to_long(words, big_endian=big_endian, long_long=True)[0]
        assert found[DataType.UINT32, order].value == long32
        assert found[DataType.INT32, order].value == tcp_utils.get_2comp(long32, 32)
        assert found[DataType.UINT64, order].value == long64
        assert found[DataType.INT64, order].value == tcp_utils.get_2comp(long64, 64)
        float32 = tcp_utils.decode_ieee(long32)
        float64 = tcp_utils.decode_ieee(long64, double=True)
        for dtype, value in ((DataType.FLOAT32, float32), (DataType.FLOAT64, float64)):
            got = found[dtype, order].value
            assert isinstance(got, float)
            assert got == value or (math.isnan(got) and math.isnan(value))
