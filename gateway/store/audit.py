"""The audit log: who changed what on the web page, and when, on aiosqlite.

One row per change, committed before the change is reported done, kept for
`max_entries` rows (the oldest go first) so a busy commissioning week cannot fill the disk.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: datetime
    user: str
    action: str
    detail: str


class AuditLog:
    """Append and read the audit rows of one SQLite file."""

    def __init__(
        self, db: aiosqlite.Connection, max_entries: int, clock: Callable[[], datetime]
    ) -> None:
        self._db = db
        self._max_entries = max_entries
        self._clock = clock

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> AsyncIterator[AuditLog]:
        """The log in `path` (created if missing); closed on exit."""
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute(_SCHEMA)
            yield cls(db, max_entries, clock)

    async def record(self, user: str, action: str, detail: str = "") -> AuditRecord:
        """Add one change (durable when this returns) and trim the oldest beyond the bound."""
        at = self._clock()
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.execute(
                "INSERT INTO audit (at_s, user, action, detail) VALUES (?, ?, ?, ?)",
                (at.timestamp(), user, action, detail),
            )
            await self._db.execute(
                "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
                (self._max_entries,),
            )
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        logger.info("audit: %s: %s %s", user, action, detail)
        return AuditRecord(at, user, action, detail)

    async def recent(self, limit: int) -> list[AuditRecord]:
        """The newest `limit` changes, newest first."""
        async with self._db.execute(
            "SELECT at_s, user, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [AuditRecord(datetime.fromtimestamp(at_s, UTC), user, action, detail)
                for at_s, user, action, detail in rows]
