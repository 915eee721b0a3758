"""The audit log: who changed what on the web page, and when, on aiosqlite.

One row per change, committed before the change is reported done, kept for
`max_entries` rows (the oldest go first) so a busy commissioning week cannot fill the disk.

A full disk (issue #17) never stops the gateway: a file that cannot be opened (as at a
start on a full disk) or a row that cannot be written is reported to the StorageHealth,
and the rows wait in memory (at most `max_entries`, oldest dropped first) until `retry`
or the next `record` writes them. `recent` shows them meanwhile.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import open_sqlite

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
STORE = "audit log"  # its name in StorageHealth, /metrics and the page


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: datetime
    user: str
    action: str
    detail: str


class AuditLog:
    """Append and read the audit rows of one SQLite file."""

    def __init__(
        self,
        path: Path,
        max_entries: int,
        clock: Callable[[], datetime],
        health: StorageHealth,
    ) -> None:
        self.path = path
        self._max_entries = max_entries
        self._clock = clock
        self._health = health
        # None until the file could be opened: a full disk cannot even read a WAL file.
        self._db: aiosqlite.Connection | None = None
        self._unwritten: deque[AuditRecord] = deque(maxlen=max_entries)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        health: StorageHealth | None = None,
    ) -> AsyncIterator[AuditLog]:
        """The log in `path` (created if missing); closed on exit. A file that cannot be
        opened is reported and opened by a later `record` or `retry`."""
        log = cls(path, max_entries, clock, health or StorageHealth(path.parent))
        try:
            await log._connect()
            yield log
        finally:
            if log._db is not None:
                await log._db.close()

    async def record(self, user: str, action: str, detail: str = "") -> AuditRecord:
        """Add one change (durable when this returns, unless the disk is full: then it
        waits in memory) and trim the oldest beyond the bound."""
        record = AuditRecord(self._clock(), user, action, detail)
        self._unwritten.append(record)
        logger.info("audit: %s: %s %s", user, action, detail)
        await self.retry()
        return record

    async def retry(self) -> None:
        """Write the rows waiting in memory, if the file can take them now."""
        if not self._unwritten or not await self._connect():
            return
        try:
            await self._write(self._conn(), list(self._unwritten))
        except Exception as error:
            self._health.absorb(STORE, "write audit rows", error)
            return
        self._unwritten.clear()
        self._health.ok(STORE)

    def waiting(self) -> int:
        """Rows waiting in memory for the file."""
        return len(self._unwritten)

    async def recent(self, limit: int) -> list[AuditRecord]:
        """The newest `limit` changes, newest first (the ones waiting in memory too)."""
        waiting = list(reversed(self._unwritten))[:limit]
        if len(waiting) == limit or self._db is None:
            return waiting
        async with self._db.execute(
            "SELECT at_s, user, action, detail FROM audit ORDER BY id DESC LIMIT ?",
            (limit - len(waiting),),
        ) as cursor:
            rows = await cursor.fetchall()
        return waiting + [AuditRecord(datetime.fromtimestamp(at_s, UTC), user, action, detail)
                          for at_s, user, action, detail in rows]

    async def _write(self, db: aiosqlite.Connection, records: list[AuditRecord]) -> None:
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(
                "INSERT INTO audit (at_s, user, action, detail) VALUES (?, ?, ?, ?)",
                [(r.time.timestamp(), r.user, r.action, r.detail) for r in records],
            )
            await db.execute(
                "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
                (self._max_entries,),
            )
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise

    async def _connect(self) -> bool:
        """Open the file unless it is open; False (reported) when it cannot be."""
        if self._db is not None:
            return True
        try:
            # FULL: a row of who changed what must survive a power cut.
            self._db = await open_sqlite(self.path, synchronous="FULL", script=_SCHEMA)
        except Exception as error:
            self._health.absorb(STORE, f"open {self.path}", error)
            return False
        if not self._unwritten:
            self._health.ok(STORE)
        return True

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError(f"audit log {self.path} is not open")
        return self._db
