"""Opening a store's SQLite file (gateway/store/sqlite_file.py): a stopped store holds no
file open, even when it was stopped while it opened (issue #17)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.store.sqlite_file import open_sqlite
from tests.fixtures.disk import open_files

WAIT_S = 5.0


async def test_an_open_cancelled_while_it_connects_closes_the_connection_before_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connect is held in its thread until the open was cancelled: aiosqlite's connect,
    # cancelled, left the connection its thread made open (omnilib/aiosqlite#259), and a
    # gateway stopped while its history reopened kept history.sqlite open.
    connecting, go_on, connected = threading.Event(), threading.Event(), threading.Event()
    made: list[sqlite3.Connection] = []  # keeps it alive: only a close closes the file
    connect = sqlite3.connect

    def held_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connecting.set()
        go_on.wait(WAIT_S)
        made.append(connect(*args, **kwargs))
        connected.set()
        return made[-1]

    monkeypatch.setattr(sqlite3, "connect", held_connect)
    path = tmp_path / "store.sqlite"
    opening = asyncio.create_task(open_sqlite(path, synchronous="NORMAL"))
    assert await asyncio.to_thread(connecting.wait, WAIT_S)
    opening.cancel()
    go_on.set()
    await asyncio.wait([opening], timeout=WAIT_S)
    assert opening.cancelled()
    assert await asyncio.to_thread(connected.wait, WAIT_S)  # set before the fixed open ends
    assert not open_files(tmp_path)


async def test_an_open_that_fails_closes_its_connection(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        await open_sqlite(tmp_path / "store.sqlite", synchronous="FULL", script="NOT SQL;")
    assert not open_files(tmp_path)


async def test_an_open_connection_is_in_wal_mode_with_the_durability_asked_for(
    tmp_path: Path,
) -> None:
    db = await open_sqlite(tmp_path / "store.sqlite", synchronous="FULL")
    try:
        async with db.execute("PRAGMA journal_mode") as cursor:
            assert await cursor.fetchone() == ("wal",)
        async with db.execute("PRAGMA synchronous") as cursor:
            assert await cursor.fetchone() == (2,)  # FULL
        assert db.isolation_level is None  # autocommit
    finally:
        await db.close()
    assert not open_files(tmp_path)
