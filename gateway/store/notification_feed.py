"""The page's notification list (the bell, issue #15), on aiosqlite: each notification as
the page shows it (JSON, in no language yet), and which users have read which.

Kept for the newest `max_entries` notifications; what users read of older ones goes with
them. A notification is for everyone who may open the page, so "read" is per user.

A full disk never stops the gateway (issue #17): a file that cannot be opened (a start on
a full disk) is reported to the StorageHealth and opened by a later call; a failed write
is reported and answered None (the bell keeps the notification in memory and stores it
again, gateway.page.bell); a failed read answers an empty list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import NotStored, Operation, SerialConnection, StoreFile

logger = logging.getLogger(__name__)

T = TypeVar("T")

STORE = "notification list"  # its name in StorageHealth, /metrics and the page
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (
    user TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (user, id)
) WITHOUT ROWID;
"""
_UNREAD = ("SELECT COUNT(*) FROM feed WHERE id NOT IN (SELECT id FROM seen WHERE user = ?)")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One stored notification: its number, when, what (as stored), and whether read."""

    id: int
    at_s: float
    item: dict[str, Any]
    read: bool


class NotificationFeedStore:
    """The notification list of one SQLite file; use `open`."""

    def __init__(self, path: Path, max_entries: int, health: StorageHealth) -> None:
        self.path = path
        self._max_entries = max_entries
        # NORMAL: the list is a convenience; the outboxes are what must survive a power cut.
        self._file = StoreFile(path, health, store=STORE, synchronous="NORMAL",
                               schema=_SCHEMA, opened=self._read_latest)
        self.latest = 0  # the newest id

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, max_entries: int = 1000,
                   health: StorageHealth | None = None) -> AsyncIterator[NotificationFeedStore]:
        """The list in `path` (created if missing); closed on exit. A file that cannot be
        opened now is reported and opened by a later call."""
        store = cls(path, max_entries, health or StorageHealth(path.parent))
        async with store._file.kept_open():
            yield store

    async def add(self, at_s: float, item: dict[str, Any]) -> int | None:
        """Store one notification; its id, or None when the disk refused it (reported)."""
        new_id = await self._call("store a notification", self._insert(at_s, json.dumps(item)),
                                  write=True)
        if new_id is not None:
            self.latest = new_id
        return new_id

    async def recent(self, user: str, after: int = 0, limit: int = 50) -> list[FeedItem]:
        """The newest `limit` notifications above id `after`, newest first."""
        found = await self._call("read the notifications", self._select(user, after, limit))
        return [] if found is None else found

    async def unread(self, user: str) -> int:
        """How many notifications `user` has not read."""
        count = await self._call("count unread notifications", self._count(user))
        return 0 if count is None else count

    async def mark_read(self, user: str, ids: Sequence[int] | None) -> None:
        """Mark `ids` (None: all) read for `user`."""
        await self._call("mark notifications read", self._mark(user, ids), write=True)

    async def _call(self, action: str, operation: Operation[T], *,
                    write: bool = False) -> T | None:
        """`operation` in its turn; None when the file cannot be opened or the operation
        fails (both reported by the file)."""
        try:
            return await self._file.run(action, operation, write=write)
        except NotStored:
            return None

    async def _read_latest(self, conn: SerialConnection) -> None:
        """The newest id in a file just opened."""
        async with conn.db.execute("SELECT COALESCE(MAX(id), 0) FROM feed") as cursor:
            row = await cursor.fetchone()
        self.latest = int(row[0]) if row else 0

    def _insert(self, at_s: float, item: str) -> Operation[int]:
        async def insert(conn: SerialConnection) -> int:
            cursor = await conn.db.execute(
                "INSERT INTO feed (at_s, item) VALUES (?, ?)", (at_s, item))
            new_id = int(cursor.lastrowid or 0)
            oldest_kept = new_id - self._max_entries
            await conn.db.execute("DELETE FROM feed WHERE id <= ?", (oldest_kept,))
            await conn.db.execute("DELETE FROM seen WHERE id <= ?", (oldest_kept,))
            return new_id
        return insert

    @staticmethod
    def _select(user: str, after: int,
                limit: int) -> Operation[list[FeedItem]]:
        async def select(conn: SerialConnection) -> list[FeedItem]:
            async with conn.db.execute(
                "SELECT feed.id, at_s, item, seen.id IS NOT NULL FROM feed"
                " LEFT JOIN seen ON seen.id = feed.id AND seen.user = ?"
                " WHERE feed.id > ? ORDER BY feed.id DESC LIMIT ?", (user, after, limit),
            ) as cursor:
                rows = await cursor.fetchall()
            return [FeedItem(int(i), float(at_s), json.loads(item), bool(read))
                    for i, at_s, item, read in rows]
        return select

    @staticmethod
    def _count(user: str) -> Operation[int]:
        async def count(conn: SerialConnection) -> int:
            async with conn.db.execute(_UNREAD, (user,)) as cursor:
                row = await cursor.fetchone()
            return int(row[0]) if row else 0
        return count

    @staticmethod
    def _mark(user: str, ids: Sequence[int] | None) -> Operation[None]:
        async def mark(conn: SerialConnection) -> None:
            if ids is None:
                await conn.db.execute(
                    "INSERT OR IGNORE INTO seen (user, id) SELECT ?, id FROM feed", (user,))
                return
            await conn.db.executemany(
                "INSERT OR IGNORE INTO seen (user, id) SELECT ?, id FROM feed WHERE id = ?",
                [(user, int(i)) for i in ids])
        return mark
