"""The maintenance log (issue #12): what was done to which asset, when, by whom, on aiosqlite.

One row per entry in `<data_dir>/maintenance.sqlite`: asset, started, finished, kind,
parts, note, who entered it, and `resets_life` (a replacement that makes the asset as good
as new). Entries are checked by `check_entry` before they are stored, so the page, the
API and any later caller get the same one-line reasons.

An entry with `resets_life` ends one life of its asset and begins the next: the asset's
*normal periods* (`normal_periods`) are the spans between such entries, from the end of
one to the start of the next, the ranges a model of the asset's normal behaviour (or a
run to failure, for RUL) is trained on.

Labels and verdicts (issue #12's other parts) live in their own files beside this one.

A full disk (issue #17) loses nothing already stored: an entry that cannot be written is
refused (`NotStored`, with the reason) and reported to the StorageHealth; a file that
cannot be opened (a start on a full disk) is reported and opened by the next call. Every
write is one transaction, so a failed one leaves the file as it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import NotStored as NotStored  # the log's refusal
from gateway.store.sqlite_file import SerialConnection, StoreFile

logger = logging.getLogger(__name__)

STORE = "maintenance log"  # its name in StorageHealth, /metrics and the page
# What was done, as the page offers it; stored and sent as these words.
KINDS = ("inspection", "lubrication", "repair", "part_replacement", "calibration", "other")
# As long as an alarm comment on the page (web.alarm_routes.MAX_COMMENT_CHARS).
MAX_TEXT_CHARS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL,
    started_s REAL NOT NULL,
    finished_s REAL NOT NULL,
    kind TEXT NOT NULL,
    parts TEXT NOT NULL,
    note TEXT NOT NULL,
    user TEXT NOT NULL,
    resets_life INTEGER NOT NULL,
    entered_s REAL NOT NULL,
    changed_by TEXT NOT NULL,
    changed_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS maintenance_asset_finished ON maintenance (asset, finished_s);
"""

_SELECT_ONE = """SELECT id, asset, started_s, finished_s, kind, parts, note, user,
    resets_life, entered_s, changed_by, changed_s FROM maintenance WHERE id = ?"""
# Filters as parameters (a JSON list of names, empty for any; a time or NULL), so that the
# statement is one constant text: (assets, kinds, start, end, limit; -1 for no limit).
_SELECT_ENTRIES = """SELECT id, asset, started_s, finished_s, kind, parts, note, user,
    resets_life, entered_s, changed_by, changed_s FROM maintenance
    WHERE (json_array_length(?1) = 0 OR asset IN (SELECT value FROM json_each(?1)))
      AND (json_array_length(?2) = 0 OR kind IN (SELECT value FROM json_each(?2)))
      AND (?3 IS NULL OR finished_s >= ?3) AND (?4 IS NULL OR started_s <= ?4)
    ORDER BY started_s DESC, id DESC LIMIT ?5"""
_INSERT = """INSERT INTO maintenance (asset, started_s, finished_s, kind, parts, note,
    resets_life, user, entered_s, changed_by, changed_s)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


class InvalidEntry(ValueError):
    """An entry the log does not take; str(exc) lists every reason, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class UnknownEntry(KeyError):
    """No entry has this id."""


@dataclass(frozen=True, slots=True)
class Draft:
    """An entry as a person gives it, before the log numbers it."""

    asset: str
    started: datetime
    finished: datetime
    kind: str
    parts: str = ""
    note: str = ""
    resets_life: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored entry: the draft, its number, who entered it and when, and the last change."""

    id: int
    draft: Draft
    user: str
    entered: datetime
    changed_by: str
    changed: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON values, times as ISO 8601 UTC (the API's and the MQTT message's fields)."""
        draft = self.draft
        return {
            "id": self.id,
            "asset": draft.asset,
            "started": draft.started.isoformat(),
            "finished": draft.finished.isoformat(),
            "kind": draft.kind,
            "parts": draft.parts,
            "note": draft.note,
            "resets_life": draft.resets_life,
            "user": self.user,
            "entered": self.entered.isoformat(),
            "changed_by": self.changed_by,
            "changed": self.changed.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Period:
    """One normal period of an asset: from the end of the entry that renewed it (None: from
    the first record) to the start of the next one that does (None: still going)."""

    asset: str
    start: datetime | None
    end: datetime | None
    begun_by: int | None  # the id of the `resets_life` entry it starts after


def check_entry(draft: Draft, assets: Collection[str], now: datetime) -> None:
    """Raise InvalidEntry naming everything wrong with `draft`: an unknown asset or kind, a
    naive time, finished before started or in the future, text too long."""
    problems = []
    if draft.asset not in assets:
        known = ", ".join(sorted(assets)) or "none configured"
        problems.append(f"asset: no asset {draft.asset!r} (the assets: {known})")
    if draft.kind not in KINDS:
        problems.append(f"kind: {draft.kind!r} is not one of {', '.join(KINDS)}")
    naive = [
        name
        for name, at in (("started", draft.started), ("finished", draft.finished))
        if at.tzinfo is None or at.utcoffset() is None
    ]
    problems += [f"{name}: give a time with its time zone" for name in naive]
    if not naive:
        if draft.finished < draft.started:
            problems.append("finished: before started")
        if draft.finished > now:
            # A life restarted at a time still to come would count rows of the old one.
            problems.append("finished: in the future; enter the work once it is done")
    for name, text in (("parts", draft.parts), ("note", draft.note)):
        if len(text) > MAX_TEXT_CHARS:
            problems.append(f"{name}: at most {MAX_TEXT_CHARS} characters (got {len(text)})")
    if problems:
        raise InvalidEntry(problems)


def normal_periods(entries: Iterable[Entry], asset: str) -> list[Period]:
    """The normal periods of `asset`, oldest first, cut by its `resets_life` entries."""
    renewals = sorted(
        (e for e in entries if e.draft.asset == asset and e.draft.resets_life),
        key=lambda e: (e.draft.started, e.id),
    )
    periods = []
    start, begun_by = None, None
    for entry in renewals:
        periods.append(Period(asset, start, entry.draft.started, begun_by))
        start, begun_by = entry.draft.finished, entry.id
    periods.append(Period(asset, start, None, begun_by))
    return periods


class MaintenanceLog:
    """The entries of one SQLite file."""

    def __init__(self, path: Path, clock: Callable[[], datetime], health: StorageHealth) -> None:
        self.path = path
        self._clock = clock
        self._file = StoreFile(
            path,
            health,
            store=STORE,
            synchronous="FULL",  # an entry someone typed in must survive a power cut
            schema=_SCHEMA,
            unopened="the maintenance log {path} cannot be opened now, so it cannot {action}",
            failed="the maintenance log could not {action}: {error}",
        )

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        health: StorageHealth | None = None,
    ) -> AsyncIterator[MaintenanceLog]:
        """The log in `path` (created if missing); closed on exit. A file that cannot be
        opened is reported and opened by a later call."""
        log = cls(path, clock, health or StorageHealth(path.parent))
        async with log._file.kept_open():
            yield log

    async def add(self, draft: Draft, user: str) -> Entry:
        """Store a checked entry entered by `user`; NotStored when the disk refuses it."""
        now = self._clock()
        row = (*_draft_row(draft), user, now.timestamp(), user, now.timestamp())

        async def insert(conn: SerialConnection) -> int:
            cursor = await conn.db.execute(_INSERT, row)
            return cursor.lastrowid or 0

        number = await self._file.run("store the entry", insert, write=True)
        return Entry(number, draft, user, now, user, now)

    async def update(self, number: int, draft: Draft, user: str) -> tuple[Entry, Entry]:
        """Replace entry `number` by `draft`, changed by `user`: (before, after). Who
        entered it and when are kept. UnknownEntry, NotStored."""
        now = self._clock()

        async def replace(conn: SerialConnection) -> Entry:
            before = await _one(conn, number)
            await conn.db.execute(
                "UPDATE maintenance SET asset = ?, started_s = ?, finished_s = ?, kind = ?,"
                " parts = ?, note = ?, resets_life = ?, changed_by = ?, changed_s = ?"
                " WHERE id = ?",
                (*_draft_row(draft), user, now.timestamp(), number),
            )
            return before

        before = await self._file.run("change the entry", replace, write=True)
        return before, Entry(number, draft, before.user, before.entered, user, now)

    async def delete(self, number: int) -> Entry:
        """Delete entry `number`; the entry deleted. UnknownEntry, NotStored."""

        async def remove(conn: SerialConnection) -> Entry:
            entry = await _one(conn, number)
            await conn.db.execute("DELETE FROM maintenance WHERE id = ?", (number,))
            return entry

        return await self._file.run("delete the entry", remove, write=True)

    async def get(self, number: int) -> Entry:
        """Entry `number`; UnknownEntry, NotStored."""
        return await self._file.run("read the entry", lambda conn: _one(conn, number))

    async def entries(
        self,
        *,
        assets: Collection[str] = (),
        kinds: Collection[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Entries of any of `assets` and `kinds` (empty: all) that overlap [start, end],
        newest start first, at most `limit`."""
        values = (
            json.dumps(list(assets)),
            json.dumps(list(kinds)),
            None if start is None else start.timestamp(),
            None if end is None else end.timestamp(),
            -1 if limit is None else limit,
        )

        async def select(conn: SerialConnection) -> list[Entry]:
            async with conn.db.execute(_SELECT_ENTRIES, values) as cursor:
                return [_entry(row) for row in await cursor.fetchall()]

        return await self._file.run("read the entries", select)

    async def latest_finished(self) -> dict[str, datetime]:
        """The end of each asset's latest entry (OPC UA's LastMaintenance), by asset."""

        async def select(conn: SerialConnection) -> dict[str, datetime]:
            async with conn.db.execute(
                "SELECT asset, MAX(finished_s) FROM maintenance GROUP BY asset"
            ) as cursor:
                return {asset: _time(at) for asset, at in await cursor.fetchall()}

        return await self._file.run("read the entries", select)

    async def normal_periods(self, asset: str) -> list[Period]:
        """The normal periods of `asset` (see the module docstring), oldest first."""
        return normal_periods(await self.entries(assets=[asset]), asset)


async def _one(conn: SerialConnection, number: int) -> Entry:
    async with conn.db.execute(_SELECT_ONE, (number,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownEntry(number)
    return _entry(row)


def _draft_row(draft: Draft) -> tuple[object, ...]:
    return (
        draft.asset,
        draft.started.timestamp(),
        draft.finished.timestamp(),
        draft.kind,
        draft.parts,
        draft.note,
        int(draft.resets_life),
    )


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _entry(row: Sequence[Any]) -> Entry:
    (
        number,
        asset,
        started_s,
        finished_s,
        kind,
        parts,
        note,
        user,
        resets_life,
        entered_s,
        changed_by,
        changed_s,
    ) = row
    draft = Draft(asset, _time(started_s), _time(finished_s), kind, parts, note, bool(resets_life))
    return Entry(number, draft, user, _time(entered_s), changed_by, _time(changed_s))
