"""Modbus read planning: coalesce tags into as few requests as the limits allow (pure).

A *cluster* is a run of tags that share registers (bits of one register, overlapping tags):
it is never cut, so every tag lies fully inside exactly one block. Between clusters a gap of
at most `max_gap_*` unused registers (bits) is bridged, because reading a few extra words
costs less than another request round trip.

When a device answers a coalesced read with ILLEGAL DATA ADDRESS (a hole in its map), the
runtime calls `split()` and re-reads the pieces; the planner stays free of I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.base import ReadBlock, Table, Tag

logger = logging.getLogger(__name__)

# Modbus Application Protocol v1.1b3, sections 6.1-6.4: the largest counts FC1/2 and FC3/4
# may request.
_SPEC_MAX_BITS = 2000
_SPEC_MAX_REGISTERS = 125
_ADDRESS_SPACE = 1 << 16
_MAX_UNIT = 255
_TABLE_ORDER = {table: rank for rank, table in enumerate(Table)}


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How large a request may grow and how many unused registers (bits) it may bridge."""

    max_registers: int = _SPEC_MAX_REGISTERS
    max_bits: int = _SPEC_MAX_BITS
    max_gap_registers: int = 8
    max_gap_bits: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.max_registers <= _SPEC_MAX_REGISTERS:
            raise ValueError(f"max_registers must be 1..{_SPEC_MAX_REGISTERS}")
        if not 1 <= self.max_bits <= _SPEC_MAX_BITS:
            raise ValueError(f"max_bits must be 1..{_SPEC_MAX_BITS}")
        if self.max_gap_registers < 0 or self.max_gap_bits < 0:
            raise ValueError("gap limits must be >= 0")

    def max_count(self, table: Table) -> int:
        return self.max_bits if table.is_bit else self.max_registers

    def max_gap(self, table: Table) -> int:
        return self.max_gap_bits if table.is_bit else self.max_gap_registers


@dataclass(frozen=True, slots=True)
class _Cluster:
    start: int
    end: int
    tags: tuple[Tag, ...]


def _clusters(tags: Sequence[Tag]) -> list[_Cluster]:
    """Tags of one table grouped by shared registers, in address order."""
    ordered = sorted(tags, key=lambda tag: (tag.address, tag.end, tag.key))
    clusters: list[_Cluster] = []
    members: list[Tag] = []
    start = end = 0
    for tag in ordered:
        if members and tag.address < end:
            members.append(tag)
            end = max(end, tag.end)
            continue
        if members:
            clusters.append(_Cluster(start, end, tuple(members)))
        members, start, end = [tag], tag.address, tag.end
    if members:
        clusters.append(_Cluster(start, end, tuple(members)))
    return clusters


def _block(unit: int, table: Table, clusters: Sequence[_Cluster]) -> ReadBlock:
    start, end = clusters[0].start, clusters[-1].end
    tags = tuple(tag for cluster in clusters for tag in cluster.tags)
    return ReadBlock(unit=unit, table=table, start=start, count=end - start, tags=tags)


def _check_tag(tag: Tag, limits: PlanLimits) -> None:
    if tag.address < 0 or tag.end > _ADDRESS_SPACE:
        raise ValueError(
            f"tag {tag.key!r}: {tag.table} {tag.address}..{tag.end - 1} is outside 0..65535"
        )
    if tag.width > limits.max_count(tag.table):
        raise ValueError(
            f"tag {tag.key!r}: {tag.width} registers at {tag.table} {tag.address} do not fit "
            f"one request (max_registers={limits.max_registers})"
        )


def _plan_table(
    unit: int, table: Table, tags: Sequence[Tag], limits: PlanLimits
) -> list[ReadBlock]:
    max_count, max_gap = limits.max_count(table), limits.max_gap(table)
    blocks: list[ReadBlock] = []
    run: list[_Cluster] = []
    for cluster in _clusters(tags):
        if cluster.end - cluster.start > max_count:
            keys = ", ".join(repr(tag.key) for tag in cluster.tags)
            raise ValueError(
                f"tags {keys} share registers over {table} {cluster.start}..{cluster.end - 1}, "
                f"more than one request can read ({max_count})"
            )
        # Greedy is optimal here: extending a block as far as the limits allow never forces
        # more blocks later, and every break is either forced or at a gap too wide to bridge.
        if (
            run
            and cluster.start - run[-1].end <= max_gap
            and cluster.end - run[0].start <= max_count
        ):
            run.append(cluster)
            continue
        if run:
            blocks.append(_block(unit, table, run))
        run = [cluster]
    if run:
        blocks.append(_block(unit, table, run))
    return blocks


def plan(tags: Sequence[Tag], unit: int, limits: PlanLimits | None = None) -> list[ReadBlock]:
    """The fewest read requests covering every tag once, ordered by (table, start)."""
    limits = limits or PlanLimits()
    if not 0 <= unit <= _MAX_UNIT:
        raise ValueError(f"unit {unit} is outside 0..{_MAX_UNIT}")
    by_table: dict[Table, list[Tag]] = {}
    for tag in tags:
        _check_tag(tag, limits)
        by_table.setdefault(tag.table, []).append(tag)
    blocks: list[ReadBlock] = []
    for table in sorted(by_table, key=_TABLE_ORDER.__getitem__):
        blocks.extend(_plan_table(unit, table, by_table[table], limits))
    logger.debug("unit %d: %d tags planned into %d reads", unit, len(tags), len(blocks))
    return blocks


def split(block: ReadBlock) -> list[ReadBlock]:
    """Smaller blocks covering the same tags, for a read the device refused as a whole.

    First cuts at every gap (unused registers the block bridged); a gap-free block is cut in
    two halves by tag count. Each piece is strictly smaller than `block`. Returns an empty
    list when no cut exists (one tag, or tags all sharing registers): if such a block is
    refused, its tags do not exist on the device.
    """
    clusters = _clusters(block.tags)
    runs: list[list[_Cluster]] = []
    for cluster in clusters:
        if runs and cluster.start == runs[-1][-1].end:
            runs[-1].append(cluster)
        else:
            runs.append([cluster])
    if len(runs) == 1:
        run = runs[0]
        if len(run) == 1:
            tight = _block(block.unit, block.table, run)
            return [tight] if tight.count < block.count else []
        runs = _halves(run)
    return [_block(block.unit, block.table, run) for run in runs]


def _halves(run: list[_Cluster]) -> list[list[_Cluster]]:
    """Cut a gap-free run of clusters where the tag counts on both sides are most even."""
    total = sum(len(cluster.tags) for cluster in run)
    best_cut, best_imbalance, left = 1, total, 0
    for cut in range(1, len(run)):
        left += len(run[cut - 1].tags)
        imbalance = abs(total - 2 * left)
        if imbalance < best_imbalance:
            best_cut, best_imbalance = cut, imbalance
    return [run[:best_cut], run[best_cut:]]
