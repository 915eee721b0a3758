"""Planner: properties of plan() and split() over random tag sets, plus worked examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import ByteOrder, DataType, ReadBlock, Table, Tag
from drivers.modbus.planner import PlanLimits, plan, split

PROPERTY = settings(deadline=None)
REGISTER_TYPES = [t for t in DataType if t is not DataType.BOOL and t is not DataType.STRING]


def holding(key: str, address: int, dtype: DataType = DataType.UINT16, **fields: object) -> Tag:
    return Tag(key=key, table=Table.HOLDING, address=address, type=dtype, **fields)


def coil(key: str, address: int) -> Tag:
    return Tag(key=key, table=Table.COIL, address=address, type=DataType.BOOL)


def spans(blocks: Sequence[ReadBlock]) -> list[tuple[Table, int, int]]:
    return [(block.table, block.start, block.count) for block in blocks]


def shares_register(a: Tag, b: Tag) -> bool:
    return a.table is b.table and a.address < b.end and b.address < a.end


def components(tags: Sequence[Tag]) -> list[list[Tag]]:
    """Groups of tags linked by shared registers, by graph search (independent of the planner)."""
    unseen = list(tags)
    groups = []
    while unseen:
        group = [unseen.pop()]
        frontier = list(group)
        while frontier:
            current = frontier.pop()
            linked = [tag for tag in unseen if shares_register(current, tag)]
            unseen = [tag for tag in unseen if tag not in linked]
            group += linked
            frontier += linked
        groups.append(group)
    return groups


def span_of(tags: Sequence[Tag]) -> tuple[int, int]:
    return min(tag.address for tag in tags), max(tag.end for tag in tags)


def is_gap_free(block: ReadBlock) -> bool:
    covered = set()
    for tag in block.tags:
        covered.update(range(tag.address, tag.end))
    return covered == set(range(block.start, block.end))


def largest_gap(block: ReadBlock) -> int:
    covered = sorted({a for tag in block.tags for a in range(tag.address, tag.end)})
    return max((b - a - 1 for a, b in zip(covered, covered[1:], strict=False)), default=0)


@st.composite
def tag_sets(draw: st.DrawFn) -> list[Tag]:
    """Up to 40 tags over all tables, crowded enough to overlap, abut and leave gaps."""
    top = draw(st.sampled_from([30, 300, 3000]))
    tags = []
    for index in range(draw(st.integers(0, 40))):
        table = draw(st.sampled_from(list(Table)))
        address = draw(st.integers(0, top))
        key = f"t{index}"
        if table.is_bit:
            tags.append(Tag(key, table, address, DataType.BOOL))
            continue
        dtype = draw(st.sampled_from(list(DataType)))
        fields: dict = {"order": draw(st.sampled_from(list(ByteOrder)))}
        if dtype is DataType.BOOL:
            fields["bit"] = draw(st.integers(0, 15))
        elif dtype is DataType.STRING:
            fields["length"] = draw(st.integers(1, 40))
        tags.append(Tag(key, table, address, dtype, **fields))
    return tags


limit_sets = st.builds(
    PlanLimits,
    max_registers=st.integers(1, 125),
    max_bits=st.integers(1, 2000),
    max_gap_registers=st.integers(0, 20),
    max_gap_bits=st.integers(0, 100),
)


@PROPERTY
@given(tags=tag_sets(), limits=limit_sets, unit=st.integers(0, 255))
def test_plan_properties(tags: list[Tag], limits: PlanLimits, unit: int) -> None:
    too_wide = [
        group
        for group in components(tags)
        if span_of(group)[1] - span_of(group)[0] > limits.max_count(group[0].table)
    ]
    if too_wide:
        with pytest.raises(ValueError, match="registers"):
            plan(tags, unit, limits)
        return
    blocks = plan(tags, unit, limits)

    # Every tag exactly once, fully inside a block of its own table, within the limits.
    assert Counter(tag.key for block in blocks for tag in block.tags) == Counter(
        tag.key for tag in tags
    )
    for block in blocks:
        assert block.unit == unit
        assert 1 <= block.count <= limits.max_count(block.table)
        assert all(tag.table is block.table for tag in block.tags)
        assert all(block.start <= tag.address and tag.end <= block.end for tag in block.tags)
        assert span_of(block.tags) == (block.start, block.end)  # no wasted edges
        assert largest_gap(block) <= limits.max_gap(block.table)

    # Tags sharing a register always share the block.
    home = {tag.key: index for index, block in enumerate(blocks) for tag in block.tags}
    for a in tags:
        for b in tags:
            if shares_register(a, b):
                assert home[a.key] == home[b.key]

    # Ordered by (table, start), never overlapping, and no two neighbours could be one read.
    rank = {table: index for index, table in enumerate(Table)}
    keys = [(rank[block.table], block.start) for block in blocks]
    assert keys == sorted(keys)
    for prev, nxt in zip(blocks, blocks[1:], strict=False):
        if prev.table is nxt.table:
            assert prev.end <= nxt.start
            assert nxt.start - prev.end > limits.max_gap(
                prev.table
            ) or nxt.end - prev.start > limits.max_count(prev.table)

    assert plan(list(reversed(tags)), unit, limits) == blocks


def refine(block: ReadBlock, depth: int = 0) -> list[ReadBlock]:
    """Split until nothing splits, as the runtime does when every read is refused."""
    assert depth <= 64, "split does not converge"
    pieces = split(block)
    if not pieces:
        return [block]
    return [leaf for piece in pieces for leaf in refine(piece, depth + 1)]


@PROPERTY
@given(tags=tag_sets(), limits=limit_sets)
def test_split_properties(tags: list[Tag], limits: PlanLimits) -> None:
    try:
        blocks = plan(tags, 1, limits)
    except ValueError:
        return  # test_plan_properties checks those refusals are justified
    for block in blocks:
        pieces = split(block)
        if len(components(block.tags)) == 1:
            assert pieces == []
            continue
        assert Counter(pieces_tags(pieces)) == Counter(tag.key for tag in block.tags)
        for piece in pieces:
            assert (piece.unit, piece.table) == (block.unit, block.table)
            assert piece.count < block.count
            assert block.start <= piece.start
            assert piece.end <= block.end
            assert is_gap_free(piece)
            assert span_of(piece.tags) == (piece.start, piece.end)
        # Fully refined, every leaf is one group of tags that share registers.
        leaves = refine(block)
        assert sorted(pieces_tags(leaves)) == sorted(tag.key for tag in block.tags)
        assert all(len(components(leaf.tags)) == 1 for leaf in leaves)


def pieces_tags(blocks: Sequence[ReadBlock]) -> list[str]:
    return [tag.key for block in blocks for tag in block.tags]


def read_or_refine(block: ReadBlock, holes: set[int]) -> tuple[list[ReadBlock], list[ReadBlock]]:
    """(readable, refused leaves) for a device that refuses any read touching a hole."""
    if not holes.intersection(range(block.start, block.end)):
        return [block], []
    pieces = split(block)
    if not pieces:
        return [], [block]
    readable: list[ReadBlock] = []
    refused: list[ReadBlock] = []
    for piece in pieces:
        ok, bad = read_or_refine(piece, holes)
        readable += ok
        refused += bad
    return readable, refused


@PROPERTY
@given(
    tags=tag_sets(),
    holes=st.sets(st.integers(0, 400), max_size=20),
)
def test_hole_refinement_finds_every_reachable_tag(tags: list[Tag], holes: set[int]) -> None:
    try:
        blocks = plan(tags, 1, PlanLimits(max_gap_registers=20))
    except ValueError:
        return
    readable: list[ReadBlock] = []
    refused: list[ReadBlock] = []
    for block in blocks:
        ok, bad = read_or_refine(block, holes)
        readable += ok
        refused += bad

    def touches_hole(tags: Sequence[Tag]) -> bool:
        return any(holes.intersection(range(tag.address, tag.end)) for tag in tags)

    # A tag is lost only with a group of register-sharing tags that really touches a hole.
    for leaf in refused:
        assert len(components(leaf.tags)) == 1
        assert touches_hole(leaf.tags)
    for block in readable:
        assert not holes.intersection(range(block.start, block.end))
    assert sorted(pieces_tags(readable + refused)) == sorted(tag.key for tag in tags)


def test_small_gap_is_bridged() -> None:
    # Registers 1..3 unused: one read of 5 beats two reads.
    blocks = plan([holding("a", 0), holding("b", 4)], 1, PlanLimits())
    assert spans(blocks) == [(Table.HOLDING, 0, 5)]
    assert [tag.key for tag in blocks[0].tags] == ["a", "b"]


def test_wide_gap_is_not_bridged() -> None:
    blocks = plan([holding("a", 0), holding("b", 51)], 1, PlanLimits())
    assert spans(blocks) == [(Table.HOLDING, 0, 1), (Table.HOLDING, 51, 1)]


@pytest.mark.parametrize(("second", "expected"), [(9, [(0, 10)]), (10, [(0, 1), (10, 1)])])
def test_gap_limit_is_inclusive(second: int, expected: list[tuple[int, int]]) -> None:
    blocks = plan([holding("a", 0), holding("b", second)], 1, PlanLimits(max_gap_registers=8))
    assert [(block.start, block.count) for block in blocks] == expected


def test_200_contiguous_registers_make_125_plus_75() -> None:
    tags = [holding(f"r{i}", i) for i in range(200)]
    blocks = plan(tags, 1, PlanLimits())
    assert spans(blocks) == [(Table.HOLDING, 0, 125), (Table.HOLDING, 125, 75)]
    assert [len(block.tags) for block in blocks] == [125, 75]


def test_a_tag_is_never_cut_at_the_request_limit() -> None:
    tags = [holding(f"r{i}", 2 * i, DataType.INT32) for i in range(63)]  # 0..125
    blocks = plan(tags, 1, PlanLimits())
    assert spans(blocks) == [(Table.HOLDING, 0, 124), (Table.HOLDING, 124, 2)]


def test_bits_of_one_register_stay_together_with_their_neighbours() -> None:
    tags = [holding(f"b{bit}", 10, DataType.BOOL, bit=bit) for bit in range(16)]
    tags.append(holding("word", 11))
    blocks = plan(tags, 7, PlanLimits(max_registers=2))
    assert spans(blocks) == [(Table.HOLDING, 10, 2)]
    assert blocks[0].unit == 7


def test_overlapping_tags_wider_than_a_request_are_refused() -> None:
    tags = [holding("a", 0, DataType.INT64), holding("b", 3, DataType.INT64)]
    with pytest.raises(ValueError, match="share registers"):
        plan(tags, 1, PlanLimits(max_registers=6))
    assert spans(plan(tags, 1, PlanLimits(max_registers=7))) == [(Table.HOLDING, 0, 7)]


def test_tables_are_never_mixed_and_come_in_table_order() -> None:
    tags = [
        Tag("d", Table.DISCRETE, 0, DataType.BOOL),
        coil("c", 0),
        Tag("i", Table.INPUT, 0, DataType.UINT16),
        holding("h", 0),
    ]
    blocks = plan(tags, 1, PlanLimits())
    assert [(block.table, block.tags[0].key) for block in blocks] == [
        (Table.HOLDING, "h"),
        (Table.INPUT, "i"),
        (Table.COIL, "c"),
        (Table.DISCRETE, "d"),
    ]


@pytest.mark.parametrize(("count", "expected"), [(2000, [2000]), (2001, [2000, 1])])
def test_bit_requests_stop_at_2000(count: int, expected: list[int]) -> None:
    blocks = plan([coil(f"c{i}", i) for i in range(count)], 1, PlanLimits())
    assert [block.count for block in blocks] == expected


@pytest.mark.parametrize(("second", "expected"), [(65, [66]), (66, [1, 1])])
def test_bit_gap_limit(second: int, expected: list[int]) -> None:
    blocks = plan([coil("a", 0), coil("b", second)], 1, PlanLimits(max_gap_bits=64))
    assert [block.count for block in blocks] == expected


def test_longest_string_fits_and_a_longer_one_is_a_planning_error() -> None:
    fits = holding("name", 0, DataType.STRING, length=250)
    assert spans(plan([fits], 1, PlanLimits())) == [(Table.HOLDING, 0, 125)]
    too_long = holding("name", 0, DataType.STRING, length=251)
    with pytest.raises(ValueError, match=r"'name': 126 registers"):
        plan([too_long], 1, PlanLimits())


def test_tag_past_the_address_space_is_refused() -> None:
    assert spans(plan([holding("last", 65535)], 1, PlanLimits())) == [(Table.HOLDING, 65535, 1)]
    with pytest.raises(ValueError, match="outside 0..65535"):
        plan([holding("x", 65535, DataType.UINT32)], 1, PlanLimits())


def test_no_tags_no_reads() -> None:
    assert plan([], 1, PlanLimits()) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"max_registers": 0},
        {"max_registers": 126},
        {"max_bits": 2001},
        {"max_gap_registers": -1},
        {"max_gap_bits": -1},
    ],
)
def test_limits_outside_the_spec_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError, match="max_|gap"):
        PlanLimits(**fields)


def test_unit_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="unit 256"):
        plan([holding("a", 0)], 256, PlanLimits())


def test_split_cuts_at_every_bridged_gap() -> None:
    tags = [holding("a", 0), holding("b", 1), holding("c", 5, DataType.INT32), holding("d", 9)]
    (block,) = plan(tags, 1, PlanLimits())
    assert (block.start, block.count) == (0, 10)
    pieces = split(block)
    assert [(p.start, p.count, [t.key for t in p.tags]) for p in pieces] == [
        (0, 2, ["a", "b"]),
        (5, 2, ["c"]),
        (9, 1, ["d"]),
    ]


def test_split_halves_a_gap_free_block_by_tags() -> None:
    tags = [holding(f"r{i}", i) for i in range(5)]
    (block,) = plan(tags, 1, PlanLimits())
    left, right = split(block)
    assert [(p.start, p.count) for p in (left, right)] == [(0, 2), (2, 3)]
    assert split(left) == [
        ReadBlock(1, Table.HOLDING, 0, 1, (tags[0],)),
        ReadBlock(1, Table.HOLDING, 1, 1, (tags[1],)),
    ]


def test_split_keeps_register_sharing_tags_together() -> None:
    bits = [holding(f"b{bit}", 0, DataType.BOOL, bit=bit) for bit in range(3)]
    (block,) = plan([*bits, holding("w", 1)], 1, PlanLimits())
    assert [[t.key for t in p.tags] for p in split(block)] == [["b0", "b1", "b2"], ["w"]]
    (bits_only,) = plan(bits, 1, PlanLimits())
    assert split(bits_only) == []


def test_split_of_a_single_tag_is_empty_and_slack_is_trimmed() -> None:
    tag = holding("a", 5, DataType.FLOAT32)
    assert split(ReadBlock(1, Table.HOLDING, 5, 2, (tag,))) == []
    assert split(ReadBlock(1, Table.HOLDING, 0, 10, (tag,))) == [
        ReadBlock(1, Table.HOLDING, 5, 2, (tag,))
    ]
