"""A store's SQLite file: opening it the one way every store does (WAL, autocommit, a
durability level), and one connection used one operation at a time.

The outbox, the history and the audit log open their files here, so the journal mode and
the connection's transaction handling are decided once (issue #10).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from gateway.core.files import to_the_end

logger = logging.getLogger(__name__)

# FULL syncs every commit (a message or audit row survives a power cut); NORMAL syncs at
# checkpoints only (WAL: a power cut may lose the last commits, never corrupt the file).
Synchronous = Literal["FULL", "NORMAL"]


async def open_sqlite(
    path: Path, *, synchronous: Synchronous, script: str = ""
) -> aiosqlite.Connection:
    """Connect in autocommit mode (creating the folder), in WAL mode with `synchronous`,
    and run `script` (more pragmas, the schema); on any failure the connection is closed
    and the error raised, so a caller can simply try again later.

    isolation_level=None: autocommit, so one statement is one transaction and
    multi-statement transactions are explicit (BEGIN IMMEDIATE ... COMMIT). WAL: readers
    and the writer do not block each other, and a commit appends instead of rewriting.

    A caller cancelled meanwhile waits for the open to end and closes its connection:
    aiosqlite's connect, cancelled, drops the connection its thread goes on making to a
    callback of the event loop (omnilib/aiosqlite#259), so the file stayed open after the
    gateway stopped, until the loop ran once more (issue #17).
    """
    opening = asyncio.ensure_future(_open(path, synchronous, script))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        try:
            await to_the_end(_close_when_open(opening))
        except Exception as error:  # the caller is told it was cancelled, not this
            logger.warning("%s: closing it after a cancelled open failed: %s", path, error)
        raise


async def _open(path: Path, synchronous: Synchronous, script: str) -> aiosqlite.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.executescript(
            f"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; {script}"
        )
    except BaseException:
        await db.close()
        raise
    return db


async def _close_when_open(opening: Awaitable[aiosqlite.Connection]) -> None:
    try:
        db = await opening
    except Exception:
        return  # a failed open closed its connection
    await db.close()


T = TypeVar("T")


class Serial:
    """Runs operations (coroutines using one connection) one after another, each shielded;
    the outbox's, whose connection may be opened later, or a SerialConnection's."""

    def __init__(self) -> None:
        # An operation spans several awaits (BEGIN .. COMMIT); another one must not land
        # inside it, nor be rolled back with it.
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def run(self, operation: Coroutine[None, None, T]) -> Awaitable[T]:
        """Schedule `operation` after the ones already queued; a cancelled caller stops
        waiting, but the operation still runs to its end."""
        # aiosqlite runs a statement it was handed even when its caller is cancelled, and
        # an explicit transaction left open would swallow the next operation's writes.
        task = asyncio.get_running_loop().create_task(self._locked(operation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return asyncio.shield(task)

    async def settle(self) -> None:
        """Wait for operations whose callers were cancelled; before the connection closes."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _locked(self, operation: Coroutine[None, None, T]) -> T:
        async with self._lock:
            return await operation


class SerialConnection(Serial):
    """One open connection whose operations run one at a time and always to the end."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__()
        self.db = db

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[None]:
        """BEGIN .. COMMIT around the body, ROLLBACK if it fails; used inside an operation.

        A write transaction takes the file's write lock at BEGIN (IMMEDIATE), so it never
        fails half-way for want of it; a read transaction only pins a snapshot."""
        await self.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise
        await self.db.execute("COMMIT")
