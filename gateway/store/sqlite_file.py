"""A store's SQLite file: opening it the one way every store does (WAL, autocommit, a
durability level), and one connection used one operation at a time.

The outbox, the history and the audit log open their files here, so the journal mode and
the connection's transaction handling are decided once (issue #10). The page's small
stores (labels, the maintenance log, the notification list) go one step further through
`StoreFile`: the file opened when it can be and each operation's failure reported to the
StorageHealth, written once for the three of them (issues #10 and #17).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from gateway.core.files import to_the_end
from gateway.core.storage import StorageHealth

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


# One operation on the open file, run in its turn (Serial.run) with the connection.
Operation = Callable[[SerialConnection], Awaitable[T]]


class NotStored(Exception):
    """The store could not be written or read now (a full disk); nothing stored is lost."""


class StoreFile:
    """A small store's SQLite file, opened when it can be, and its operations run one at a
    time; every failure is reported to the StorageHealth under the store's name (issue #17).

    A file that cannot be opened (a start on a full disk: SQLite cannot even read a WAL file
    there) is reported, and the next `run` tries again, so the gateway starts without it.
    An operation that fails for a storage error (`is_storage_error`) is reported and
    refused as NotStored; any other error (an unknown id, a refused value, a bug) is raised
    as it is and reports nothing. The open and a write that works end the store's problem;
    a read that works does not, since a full disk still serves reads and the problem would
    come and go with every page view. What the disk refused is the caller's to keep and
    offer again (gateway/page/bell.py, gateway/page/label_desk.py).
    """

    def __init__(
        self,
        path: Path,
        health: StorageHealth,
        *,
        store: str,
        synchronous: Synchronous,
        schema: str,
        opened: Callable[[SerialConnection], Awaitable[None]] | None = None,
        unopened: str = "the {store} file {path} cannot be opened now, so the gateway"
        " cannot {action}",
        failed: str = "the gateway could not {action}: {error}",
    ) -> None:
        """`store` names it in the StorageHealth, /metrics and the page; `opened` reads what
        the store keeps in memory from a file just opened; `unopened` ({store}, {path},
        {action}) and `failed` ({action}, {error}) word a refusal for the page."""
        self.path = path
        self.store = store
        self._health = health
        self._synchronous: Synchronous = synchronous
        self._schema = schema
        self._opened = opened
        self._unopened = unopened
        self._failed = failed
        self._conn: SerialConnection | None = None  # None until the file could be opened
        # Two callers finding it closed (the page and a retry) must not open it twice: the
        # second connection would stay open, unreferenced, after the store closed.
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def kept_open(self) -> AsyncIterator[None]:
        """Open the file now if it can be (else reported, and opened by a later `run`); on
        exit, let the operations under way end, then close it."""
        try:
            await self._connect()
            yield
        finally:
            if self._conn is not None:
                await self._conn.settle()
                await self._conn.db.close()

    async def run(self, action: str, operation: Operation[T], *, write: bool = False) -> T:
        """`operation` in its turn, in one write transaction if `write` (so a failed one
        leaves the file as it was); `action` ("store the label") says what it does. NotStored
        when the file cannot be opened or the operation fails for want of storage."""
        conn = await self._connect()
        if conn is None:
            unopened = self._unopened.format(store=self.store, path=self.path, action=action)
            raise NotStored(f"{unopened}: see the gateway's problems")

        async def turn() -> T:
            if not write:
                return await operation(conn)
            async with conn.transaction(write=True):
                return await operation(conn)

        try:
            result = await conn.run(turn())
        except Exception as error:
            self._health.absorb(self.store, action, error)  # raises what is not storage's
            kept = "; nothing stored before is lost" if write else ""
            raise NotStored(self._failed.format(action=action, error=error) + kept) from error
        if write:
            self._health.ok(self.store)
        return result

    async def _connect(self) -> SerialConnection | None:
        """The open file, opened now if need be; None (reported) when it cannot be."""
        async with self._opening:
            if self._conn is None:
                self._conn = await self._open()
        return self._conn

    async def _open(self) -> SerialConnection | None:
        try:
            db = await open_sqlite(self.path, synchronous=self._synchronous, script=self._schema)
        except Exception as error:
            self._health.absorb(self.store, f"open {self.path}", error)
            return None
        conn = SerialConnection(db)
        try:
            if self._opened is not None:
                await self._opened(conn)
        except Exception as error:
            await db.close()
            self._health.absorb(self.store, f"read {self.path}", error)
            return None
        except BaseException:  # cancelled: a stopped store holds no file open (issue #17)
            await to_the_end(db.close())
            raise
        self._health.ok(self.store)
        return conn
