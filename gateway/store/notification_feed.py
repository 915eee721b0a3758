"""The page's notification list (the bell, issue #15), on aiosqlite: each notification as
the page shows it (JSON, in no language yet), and which users have read which.

Kept for the newest `max_entries` notifications; what users read of older ones goes with
them. A notification is for everyone who may open the page, so "read" is per user.

A full disk never stops the gateway (issue #17): a failed write is reported to the
StorageHealth and the notification is lost from the list (the channels' own outboxes
keep what is sent), a failed read answers an empty list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import SerialConnection, open_sqlite

logger = logging.getLogger(__name__)

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

    def __init__(self, conn: SerialConnection, max_entries: int, health: StorageHealth) -> None:
        self._conn = conn
        self._max_entries = max_entries
        self._health = health
        self.latest = 0  # the newest id

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, max_entries: int = 1000,
                   health: StorageHealth | None = None) -> AsyncIterator[NotificationFeedStore]:
        """The list in `path` (created if missing); closed on exit."""
        # NORMAL: the list is a convenience; the outboxes are what must survive a power cut.
        db = await open_sqlite(path, synchronous="NORMAL", script=_SCHEMA)
        store = cls(SerialConnection(db), max_entries, health or StorageHealth(path.parent))
        try:
            async with db.execute("SELECT COALESCE(MAX(id), 0) FROM feed") as cursor:
                row = await cursor.fetchone()
            store.latest = int(row[0]) if row else 0
            yield store
        finally:
            await store._conn.settle()
            await db.close()

    async def add(self, at_s: float, item: dict[str, Any]) -> int | None:
        """Store one notification; its id, or None when the disk refused it (reported)."""
        try:
            new_id = await self._conn.run(self._insert(at_s, json.dumps(item)))
        except Exception as error:
            self._health.absorb(STORE, "store a notification", error)
            return None
        self._health.ok(STORE)
        self.latest = new_id
        return new_id

    async def recent(self, user: str, after: int = 0, limit: int = 50) -> list[FeedItem]:
        """The newest `limit` notifications above id `after`, newest first."""
        try:
            return await self._conn.run(self._select(user, after, limit))
        except Exception as error:
            self._health.absorb(STORE, "read the notifications", error)
            return []

    async def unread(self, user: str) -> int:
        """How many notifications `user` has not read."""
        try:
            return await self._conn.run(self._count(user))
        except Exception as error:
            self._health.absorb(STORE, "count unread notifications", error)
            return 0

    async def mark_read(self, user: str, ids: Sequence[int] | None) -> None:
        """Mark `ids` (None: all) read for `user`."""
        try:
            await self._conn.run(self._mark(user, ids))
        except Exception as error:
            self._health.absorb(STORE, "mark notifications read", error)

    async def _insert(self, at_s: float, item: str) -> int:
        db = self._conn.db
        async with self._conn.transaction(write=True):
            cursor = await db.execute("INSERT INTO feed (at_s, item) VALUES (?, ?)", (at_s, item))
            new_id = int(cursor.lastrowid or 0)
            oldest_kept = new_id - self._max_entries
            await db.execute("DELETE FROM feed WHERE id <= ?", (oldest_kept,))
            await db.execute("DELETE FROM seen WHERE id <= ?", (oldest_kept,))
        return new_id

    async def _select(self, user: str, after: int, limit: int) -> list[FeedItem]:
        async with self._conn.db.execute(
            "SELECT feed.id, at_s, item, seen.id IS NOT NULL FROM feed"
            " LEFT JOIN seen ON seen.id = feed.id AND seen.user = ?"
            " WHERE feed.id > ? ORDER BY feed.id DESC LIMIT ?", (user, after, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [FeedItem(int(i), float(at_s), json.loads(item), bool(read))
                for i, at_s, item, read in rows]

    async def _count(self, user: str) -> int:
        async with self._conn.db.execute(_UNREAD, (user,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _mark(self, user: str, ids: Sequence[int] | None) -> None:
        if ids is None:
            await self._conn.db.execute(
                "INSERT OR IGNORE INTO seen (user, id) SELECT ?, id FROM feed", (user,))
            return
        await self._conn.db.executemany(
            "INSERT OR IGNORE INTO seen (user, id) SELECT ?, id FROM feed WHERE id = ?",
            [(user, int(i)) for i in ids])
