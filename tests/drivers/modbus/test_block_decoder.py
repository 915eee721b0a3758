"""A block's planned decoding (one `struct` call per byte order) gives exactly what decoding
each tag from its own words gives, for any mix of types, orders, gaps and overlaps."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import ByteOrder, DataType, ReadBlock, Table, Tag, Value
from drivers.modbus.codec import block_decoder, decode

# Property tests run on two noisy cores: time per example is no signal here.
PROPERTY = settings(deadline=None, max_examples=300)
SPAN = 40  # words of the block the tags are placed in


@st.composite
def tags(draw: st.DrawFn, index: int) -> Tag:
    dtype = draw(st.sampled_from(DataType))
    fields: dict[str, object] = {}
    if dtype is DataType.BOOL:
        fields["bit"] = draw(st.none() | st.integers(0, 15))
    elif dtype is DataType.STRING:
        fields["length"] = draw(st.integers(1, 8))
    elif draw(st.booleans()):
        fields["scale"] = draw(st.sampled_from([0.1, 2.0, -1.0]))
        fields["offset"] = draw(st.sampled_from([0.0, 5.5]))
    width = dtype.fixed_words or (int(str(fields["length"])) + 1) // 2
    address = draw(st.integers(0, SPAN - width))
    order = draw(st.sampled_from(ByteOrder))
    return Tag(f"dev.t{index}", Table.HOLDING, address, dtype, order, **fields)  # type: ignore[arg-type]


@st.composite
def blocks(draw: st.DrawFn) -> tuple[ReadBlock, list[int]]:
    count = draw(st.integers(1, 12))
    members = tuple(draw(tags(index)) for index in range(count))
    block = ReadBlock(
        1,
        Table.HOLDING,
        100,
        SPAN,
        tuple(
            Tag(
                t.key, t.table, t.address + 100, t.type, t.order, t.bit, t.length, t.scale, t.offset
            )
            for t in members
        ),
    )
    words = draw(st.lists(st.integers(0, 0xFFFF), min_size=SPAN, max_size=SPAN))
    return block, words


def same(a: Value, b: Value) -> bool:
    """Equal values of the same type; floats bit for bit (NaN payloads, -0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack(">d", a) == struct.pack(">d", b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


@PROPERTY
@given(case=blocks())
def test_the_planned_decoding_equals_each_tag_decoded_alone(
    case: tuple[ReadBlock, list[int]],
) -> None:
    block, words = case
    expected = [
        decode(tag, words[tag.address - block.start : tag.end - block.start]) for tag in block.tags
    ]
    got = block_decoder(block)(words)
    assert len(got) == len(expected)
    assert all(same(a, b) for a, b in zip(got, expected, strict=True)), (got, expected)


def test_mixed_orders_overlaps_and_scaling_come_back_in_the_blocks_order() -> None:
    # Listed out of address order, two byte orders, a tag inside another, a scaled one.
    tags = (
        Tag("late", Table.INPUT, 4, DataType.UINT16, scale=0.5, offset=1.0),
        Tag("swapped", Table.INPUT, 2, DataType.INT32, ByteOrder.CDAB),
        Tag("wide", Table.INPUT, 0, DataType.UINT32),
        Tag("inside", Table.INPUT, 1, DataType.UINT16),
        Tag("flag", Table.INPUT, 0, DataType.BOOL, bit=0),
    )
    block = ReadBlock(1, Table.INPUT, 0, 5, tags)
    words = [0x0001, 0x0002, 0xFFFE, 0xFFFF, 0x0010]
    # wide 0x00010002; swapped low word first, 0xFFFFFFFE = -2; late 16 * 0.5 + 1; flag bit 0
    assert block_decoder(block)(words) == [9.0, -2, 65538, 2, True]


def test_a_register_answer_longer_than_the_block_is_cut_and_a_short_one_refused() -> None:
    tags = (
        Tag("a", Table.HOLDING, 10, DataType.INT16),
        Tag("b", Table.HOLDING, 11, DataType.INT16),
    )
    decode_block = block_decoder(ReadBlock(1, Table.HOLDING, 10, 2, tags))
    assert decode_block([1, 0xFFFF, 7]) == [1, -1]
    with pytest.raises(ValueError, match=r"holding 10\+2: read returned only 1 items"):
        decode_block([1])
