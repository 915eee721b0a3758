"""The tag history file's tables, and the migrations that bring an older file up to date.

`PRAGMA user_version` holds the number of migrations applied. Each migration runs in one
transaction together with the version bump, so a file is always at exactly one version.
A later change appends a migration; it never edits one that shipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import aiosqlite

logger = logging.getLogger(__name__)

# Points are clustered by (chunk, series, t), chunk = t // CHUNK_MS. A flush writes at the
# end of the tree, into the current chunk only: the pages it dirties are bounded by one
# chunk of data, not by the number of series. Keyed (series, t), every series has its own
# insertion point: 15,000 series dirtied 15,000 pages (~60 MB of WAL) per flush, which took
# 250-350 ms and kept growing. A query seeks once per chunk of its range. At 15,000
# points/s (bench/README.md), 10 s chunks take 38 ms per flush and write 3.3 MB/s to disk,
# with the 7-day query in 84 ms; 20 s chunks 53 ms, 6.9 MB/s and 50 ms.
CHUNK_MS = 10_000

_MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema. Series keys are stored once; a point refers to its series by a
    # small integer id, and keeps its time as integer milliseconds since the epoch (UTC).
    # value is NULL for points without a usable value (Bad quality, NaN).
    # rollup summarises one series in one closed chunk, so a long query reads one row per
    # chunk instead of every point (3x faster over 7 days of 1 Hz data, measured). Every
    # chunk up to the newest one in rollup has its rollups, and they are exact: chunks are
    # rolled up in order, late points re-roll theirs and retention deletes both together.
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE
    );
    CREATE TABLE point (
        chunk INTEGER NOT NULL,
        series INTEGER NOT NULL,
        t INTEGER NOT NULL,
        value REAL,
        quality INTEGER NOT NULL,
        PRIMARY KEY (chunk, series, t)
    ) WITHOUT ROWID;
    CREATE TABLE rollup (
        chunk INTEGER NOT NULL,
        series INTEGER NOT NULL,
        low REAL,
        high REAL,
        total REAL,
        n_values INTEGER NOT NULL,
        n_points INTEGER NOT NULL,
        worst INTEGER NOT NULL,
        PRIMARY KEY (chunk, series)
    ) WITHOUT ROWID;
    """,
)

VERSION = len(_MIGRATIONS)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class NewerSchema(RuntimeError):
    """The history file was written by a newer gateway whose schema this one cannot read."""


async def migrate(db: aiosqlite.Connection, path: str) -> None:
    """Bring the file behind `db` (an autocommit connection) to `VERSION`."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = row[0] if row else 0
    if version > VERSION:
        raise NewerSchema(
            f"{path}: history schema version {version} is newer than this gateway's {VERSION}"
        )
    for number in range(version + 1, VERSION + 1):
        script = _MIGRATIONS[number - 1]
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
        logger.info("history %r migrated to schema version %d", path, number)


def to_ms(time: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (the sub-millisecond part dropped)."""
    ms: int = (time - _EPOCH) // _MILLISECOND
    if ms < 0:
        # Chunk numbers are computed with SQL's division, which truncates: floor for t >= 0 only.
        raise ValueError(f"times before 1970 are not stored (got {time})")
    return ms


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of `to_ms`'s milliseconds."""
    return _EPOCH + ms * _MILLISECOND
