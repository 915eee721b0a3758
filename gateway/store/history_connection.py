"""One aiosqlite connection whose operations run one at a time and always to the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")


class SerialConnection:
    """Runs operations (coroutines using `db`) one after another, each shielded."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
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

    async def _locked(self, operation: Coroutine[None, None, T]) -> T:
        async with self._lock:
            return await operation
