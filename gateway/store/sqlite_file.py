"""Opening a store's SQLite file: the connection, or an error and no connection left open."""

from __future__ import annotations

from pathlib import Path

import aiosqlite


async def open_sqlite(path: Path, script: str) -> aiosqlite.Connection:
    """Connect in autocommit mode (creating the folder) and run `script` (pragmas,
    schema); on any failure the connection is closed and the error raised, so a caller can
    simply try again later.

    isolation_level=None: autocommit, so one statement is one transaction and
    multi-statement transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.executescript(script)
    except BaseException:
        await db.close()
        raise
    return db
