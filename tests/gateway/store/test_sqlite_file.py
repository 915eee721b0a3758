"""Opening a store's SQLite file (gateway/store/sqlite_file.py): a stopped store holds no
file open, even when it was stopped while it opened (issue #17); a small store's file
(StoreFile) opened when it can be, its failures reported and refused, on a real full disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import NotStored, SerialConnection, StoreFile, open_sqlite
from tests.fixtures.disk import SmallDisk, open_files

WAIT_S = 5.0
STORE = "rows"
ROW_BYTES = 64 * 1024  # a row SQLite must grow the file for: its last pages may be free


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


def rows_file(path: Path, health: StorageHealth) -> StoreFile:
    return StoreFile(path, health, store=STORE, synchronous="FULL",
                     schema="CREATE TABLE IF NOT EXISTS t (x BLOB);")


async def insert(conn: SerialConnection) -> None:
    await conn.db.execute("INSERT INTO t VALUES (randomblob(?))", (ROW_BYTES,))


async def count(conn: SerialConnection) -> int:
    async with conn.db.execute("SELECT COUNT(*) FROM t") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_a_file_unopened_on_a_full_disk_is_opened_once_by_callers_meeting_it(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    path = small_disk.path / "rows.sqlite"
    async with rows_file(path, health).kept_open():
        pass  # the file exists, in WAL mode: on a full disk it cannot even be read
    small_disk.fill()
    rows = rows_file(path, health)
    async with rows.kept_open():
        assert health.problems()[STORE].message.startswith(f"cannot open {path}: ")
        with pytest.raises(NotStored) as refused:
            await rows.run("count the rows", count)
        assert str(refused.value) == (
            f"the rows file {path} cannot be opened now, so the gateway cannot count the "
            "rows: see the gateway's problems")

        small_disk.free()
        # Both find it closed; one connection is opened, or the other would stay open.
        counted = await asyncio.gather(rows.run("count the rows", count),
                                       rows.run("count the rows", count))
        assert list(counted) == [0, 0]
        assert health.problems() == {}  # the open ends it
    assert not open_files(small_disk.path)


async def test_a_refused_write_stays_a_problem_through_reads_until_a_write_works(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    rows = rows_file(small_disk.path / "rows.sqlite", health)
    async with rows.kept_open():
        await rows.run("store a row", insert, write=True)
        small_disk.fill()
        with pytest.raises(NotStored, match="^the gateway could not store a row: database or "
                           "disk is full; nothing stored before is lost$"):
            await rows.run("store a row", insert, write=True)
        assert health.disk_full
        # A full disk still serves reads: the problem must not end with each page view.
        assert await rows.run("count the rows", count) == 1
        assert STORE in health.problems()

        small_disk.free()
        await rows.run("store a row", insert, write=True)
        assert health.problems() == {}
        assert await rows.run("count the rows", count) == 2


async def test_an_error_not_of_storage_is_raised_as_it_is_and_reports_nothing(
    tmp_path: Path,
) -> None:
    health = StorageHealth(tmp_path)
    rows = rows_file(tmp_path / "rows.sqlite", health)

    async def unknown(conn: SerialConnection) -> None:
        await insert(conn)
        raise KeyError(7)  # as a store's "no such entry", after a write in its transaction

    async with rows.kept_open():
        with pytest.raises(KeyError):
            await rows.run("change row 7", unknown, write=True)
        assert await rows.run("count the rows", count) == 0  # rolled back
    assert health.errors == {}
    assert health.stores() == [STORE]
