"""How far back the history of some keys goes: the first and the last point among them.

Training from history (issue #12) needs it twice: `uvelka train --history` without
--from/--to trains on all there is, and the Models page says how much history each asset
has and whether retention will cut a training range. The history has no index by time
across chunks, so the span is narrowed down with bucket queries: 1000 buckets over the
whole range, then 1000 over the first and the last bucket that hold points, and so on
until a bucket is a second wide (a few queries, each on rollups where it can).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.store.history_query import Bucket

BUCKETS = 1000
RESOLUTION = timedelta(seconds=1)

# What a history answers: each key's buckets (at most BUCKETS) over [start, end).
Query = Callable[[Collection[str], datetime, datetime, int], Awaitable[dict[str, list[Bucket]]]]


@dataclass(frozen=True, slots=True)
class Span:
    """The first and the last point among some keys (to RESOLUTION)."""

    first: datetime
    last: datetime


async def span_of(
    query: Query, keys: Collection[str], start: datetime, end: datetime
) -> Span | None:
    """The span of `keys`' points in [start, end), None when there is none."""
    first = await _edge(query, keys, start, end, oldest=True)
    if first is None:
        return None
    last = await _edge(query, keys, first, end, oldest=False)
    return Span(first, last or first)


async def _edge(
    query: Query, keys: Collection[str], start: datetime, end: datetime, *, oldest: bool
) -> datetime | None:
    while True:
        found = await query(keys, start, end, BUCKETS)
        starts = [bucket.start for buckets in found.values() for bucket in buckets if bucket.count]
        if not starts:
            return None
        at = min(starts) if oldest else max(starts)
        width = (end - start) / BUCKETS
        if width <= RESOLUTION or all(bucket.count == 1 for b in found.values() for bucket in b):
            return at  # a bucket is narrow enough, or the points came back raw
        start, end = at, min(at + width, end)
