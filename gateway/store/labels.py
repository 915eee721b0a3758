"""Expert labels and alarm verdicts (issue #12): what people who know the plant say about
its history, in `<data_dir>/labels.sqlite` on aiosqlite.

- A *label* says what an asset was doing over a time range: `normal`, `anomaly` or
  `unsure`, with an optional fault code (free text) and note, who made it and when, and
  who changed it last. Labels of `normal` and `anomaly` may not overlap on one asset
  (`Overlap`, naming the label in the way); `unsure` says nothing either way and may
  overlap anything, as may labels of the same class.
- An *activation* is an alarm event that raised an alarm, recorded as the alarm hub
  delivers it (`record_events`, a sink of the hub) with the time it cleared, so that a
  verdict names it by its event id long after the page's recent events forgot it. Only
  activations recorded since this store existed can be judged: an unknown id is refused
  (`UnknownEvent`), as is one not written yet (the disk full: the label desk keeps them in
  memory and writes them once there is room).
- A *verdict* on an activation: `confirmed` (a real fault), `false` (a false alarm) or
  `unsure`, with an optional fault code and note; one per activation, a later one replaces
  it (who gave it first is kept). A verdict on a model alarm (an alarm on an asset's
  anomaly or RUL output) is also a label of that asset over the alarm's range, from the
  activation to its clear, or to the verdict's time while it is still active (extended to
  the clear when it comes): `confirmed` labels `anomaly`, `false` labels `normal`, `unsure`
  labels `unsure`. The verdict and its label are stored in one transaction: a label that
  would overlap one of the other class refuses the verdict (`Overlap`).

Query API, for the page and for training from history (`LabelStore`):
- `labels(assets=["pump1"], start=t0, end=t1)`: the labels of asset pump1 overlapping
  [t0, t1], oldest start first (`Label.kind`, `.start`, `.end`, `.fault_code`, `.event_id`
  for one that came from a verdict);
- `verdicts(assets=["pump1"])`: the verdicts on pump1's model alarms with their
  activations (`Verdict.activation.activated` / `.cleared`, `.verdict`); `alarms=[...]`
  for any alarm's, a device tag's included;
- `fault_codes()`: the codes used so far, the most used first.
A training job may open the file itself (`LabelStore.open(data_dir / FILE_NAME)`) while a
gateway writes it: WAL readers do not block the writer.

A full disk (issue #17) loses nothing already stored: a label or verdict that cannot be
written is refused (`NotStored`, with the reason) and reported to the StorageHealth; a
file that cannot be opened (a start on a full disk) is reported and opened by the next
call. Every write is one transaction, so a failed one leaves the file as it was.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import NotStored as NotStored  # the store's refusal
from gateway.store.sqlite_file import SerialConnection, StoreFile

logger = logging.getLogger(__name__)

FILE_NAME = "labels.sqlite"  # in data_dir
STORE = "labels"  # its name in StorageHealth, /metrics and the page
KINDS = ("normal", "anomaly", "unsure")
VERDICTS = ("confirmed", "false", "unsure")
# What a verdict on a model alarm says about the asset's range.
KIND_OF_VERDICT = {"confirmed": "anomaly", "false": "normal", "unsure": "unsure"}
# Classes that contradict each other where they overlap.
_CONFLICTING = {"normal": "anomaly", "anomaly": "normal"}
FAULT_CODE_MAX = 64
NOTE_MAX = 500  # as a maintenance entry's note and an alarm comment on the page

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    kind TEXT NOT NULL,
    fault_code TEXT NOT NULL,
    note TEXT NOT NULL,
    user TEXT NOT NULL,
    entered_s REAL NOT NULL,
    changed_by TEXT NOT NULL,
    changed_s REAL NOT NULL,
    event_id TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS labels_asset_start ON labels (asset, start_s);
CREATE TABLE IF NOT EXISTS activations (
    event_id TEXT PRIMARY KEY,
    alarm TEXT NOT NULL,
    source TEXT NOT NULL,
    asset TEXT,
    activated_s REAL NOT NULL,
    cleared_s REAL
);
CREATE INDEX IF NOT EXISTS activations_alarm ON activations (alarm, activated_s);
-- The columns as _label_of and _activation_of read them, so each query is one constant.
CREATE VIEW IF NOT EXISTS label_rows AS SELECT id, asset, start_s, end_s, kind, fault_code,
    note, user, entered_s, changed_by, changed_s, event_id FROM labels;
CREATE VIEW IF NOT EXISTS activation_rows AS SELECT event_id, alarm, source, asset,
    activated_s, cleared_s FROM activations;
CREATE TABLE IF NOT EXISTS verdicts (
    event_id TEXT PRIMARY KEY REFERENCES activations (event_id),
    verdict TEXT NOT NULL,
    fault_code TEXT NOT NULL,
    note TEXT NOT NULL,
    user TEXT NOT NULL,
    entered_s REAL NOT NULL,
    changed_by TEXT NOT NULL,
    changed_s REAL NOT NULL
);
"""
_SELECT_LABELS = """SELECT * FROM label_rows
    WHERE (json_array_length(?1) = 0 OR asset IN (SELECT value FROM json_each(?1)))
      AND (json_array_length(?2) = 0 OR kind IN (SELECT value FROM json_each(?2)))
      AND (?3 IS NULL OR end_s >= ?3) AND (?4 IS NULL OR start_s <= ?4)
    ORDER BY start_s, id LIMIT ?5"""
_SELECT_VERDICTS = """SELECT a.*, v.verdict, v.fault_code, v.note, v.user,
    v.entered_s, v.changed_by, v.changed_s
    FROM verdicts v JOIN activation_rows a ON a.event_id = v.event_id
    WHERE (json_array_length(?1) = 0 OR a.asset IN (SELECT value FROM json_each(?1)))
      AND (json_array_length(?2) = 0 OR a.alarm IN (SELECT value FROM json_each(?2)))
      AND (?3 IS NULL OR coalesce(a.cleared_s, v.changed_s) >= ?3)
      AND (?4 IS NULL OR a.activated_s <= ?4)
    ORDER BY a.activated_s, a.event_id LIMIT ?5"""
_INSERT_LABEL = """INSERT INTO labels (asset, start_s, end_s, kind, fault_code, note, user,
    entered_s, changed_by, changed_s, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# Another label of the asset overlapping [start, end] with the class given (touching is not
# overlapping: one range may end where the next begins).
_IN_THE_WAY = """SELECT * FROM label_rows
    WHERE asset = ? AND kind = ? AND start_s < ? AND end_s > ? AND id IS NOT ?
    ORDER BY start_s LIMIT 1"""


class InvalidLabel(ValueError):
    """A label or verdict the store does not take; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Overlap(InvalidLabel):
    """The label would overlap one of the other class on its asset."""


class UnknownLabel(KeyError):
    """No label has this id."""


class UnknownEvent(KeyError):
    """No recorded alarm activation has this event id."""


@dataclass(frozen=True, slots=True)
class LabelDraft:
    """A label as a person gives it, before the store numbers it."""

    asset: str
    start: datetime
    end: datetime
    kind: str
    fault_code: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Label:
    """A stored label: who made it and when, the last change, and the activation whose
    verdict it comes from (None: drawn by hand)."""

    id: int
    draft: LabelDraft
    user: str
    entered: datetime
    changed_by: str
    changed: datetime
    event_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        return self.draft.kind

    @property
    def start(self) -> datetime:
        return self.draft.start

    @property
    def end(self) -> datetime:
        return self.draft.end

    @property
    def fault_code(self) -> str:
        return self.draft.fault_code

    def to_json(self) -> dict[str, Any]:
        """JSON values, times as ISO 8601 UTC (the API's fields)."""
        draft = self.draft
        return {
            "id": self.id,
            "asset": draft.asset,
            "start": draft.start.isoformat(),
            "end": draft.end.isoformat(),
            "kind": draft.kind,
            "fault_code": draft.fault_code,
            "note": draft.note,
            "user": self.user,
            "entered": self.entered.isoformat(),
            "changed_by": self.changed_by,
            "changed": self.changed.isoformat(),
            "event_id": None if self.event_id is None else str(self.event_id),
        }


@dataclass(frozen=True, slots=True)
class Activation:
    """An alarm event that raised an alarm; `asset` is set for a model alarm's."""

    event_id: uuid.UUID
    alarm: str
    source: str
    asset: str | None
    activated: datetime
    cleared: datetime | None = None


@dataclass(frozen=True, slots=True)
class VerdictDraft:
    """A verdict as a person gives it."""

    verdict: str
    fault_code: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A stored verdict on an activation; who gave it first and who changed it last."""

    activation: Activation
    draft: VerdictDraft
    user: str
    entered: datetime
    changed_by: str
    changed: datetime

    @property
    def verdict(self) -> str:
        return self.draft.verdict

    def to_json(self) -> dict[str, Any]:
        """JSON values, times as ISO 8601 UTC (the API's fields)."""
        found = self.activation
        return {
            "event_id": str(found.event_id),
            "alarm": found.alarm,
            "source": found.source,
            "asset": found.asset,
            "activated": found.activated.isoformat(),
            "cleared": None if found.cleared is None else found.cleared.isoformat(),
            "verdict": self.draft.verdict,
            "fault_code": self.draft.fault_code,
            "note": self.draft.note,
            "user": self.user,
            "entered": self.entered.isoformat(),
            "changed_by": self.changed_by,
            "changed": self.changed.isoformat(),
        }


def check_label(draft: LabelDraft, assets: Collection[str], now: datetime) -> None:
    """Raise InvalidLabel naming everything wrong with `draft`: an unknown asset or class,
    a naive time, an end not after the start or in the future, text too long."""
    problems = []
    if draft.asset not in assets:
        known = ", ".join(sorted(assets)) or "none configured"
        problems.append(f"asset: no asset {draft.asset!r} (the assets: {known})")
    if draft.kind not in KINDS:
        problems.append(f"kind: {draft.kind!r} is not one of {', '.join(KINDS)}")
    naive = [
        name
        for name, at in (("start", draft.start), ("end", draft.end))
        if at.tzinfo is None or at.utcoffset() is None
    ]
    problems += [f"{name}: give a time with its time zone" for name in naive]
    if not naive:
        if draft.end <= draft.start:
            problems.append("end: not after start; select a range from left to right")
        elif draft.end > now:
            problems.append("end: in the future; label what has happened")
    problems += _text_problems(draft.fault_code, draft.note)
    if problems:
        raise InvalidLabel(problems)


def check_verdict(draft: VerdictDraft) -> None:
    """Raise InvalidLabel naming everything wrong with `draft`."""
    problems = []
    if draft.verdict not in VERDICTS:
        problems.append(f"verdict: {draft.verdict!r} is not one of {', '.join(VERDICTS)}")
    problems += _text_problems(draft.fault_code, draft.note)
    if problems:
        raise InvalidLabel(problems)


def _text_problems(fault_code: str, note: str) -> list[str]:
    return [
        f"{name}: at most {most} characters (got {len(text)})"
        for name, text, most in (
            ("fault_code", fault_code, FAULT_CODE_MAX),
            ("note", note, NOTE_MAX),
        )
        if len(text) > most
    ]


class LabelStore:
    """The labels, activations and verdicts of one SQLite file."""

    def __init__(self, path: Path, clock: Callable[[], datetime], health: StorageHealth) -> None:
        self.path = path
        self._clock = clock
        # FULL: a label someone drew must survive a power cut.
        self._file = StoreFile(path, health, store=STORE, synchronous="FULL", schema=_SCHEMA)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        health: StorageHealth | None = None,
    ) -> AsyncIterator[LabelStore]:
        """The store in `path` (created if missing); closed on exit. A file that cannot be
        opened is reported and opened by a later call."""
        store = cls(path, clock, health or StorageHealth(path.parent))
        async with store._file.kept_open():
            yield store

    # -- labels ----------------------------------------------------------------------------

    async def add(self, draft: LabelDraft, user: str) -> Label:
        """Store a checked label made by `user`. Overlap, NotStored."""
        now = self._clock()

        async def insert(conn: SerialConnection) -> Label:
            await _refuse_overlap(conn, draft, None)
            cursor = await conn.db.execute(
                _INSERT_LABEL,
                (*_draft_row(draft), user, now.timestamp(), user, now.timestamp(), None),
            )
            return Label(cursor.lastrowid or 0, draft, user, now, user, now)

        return await self._file.run("store the label", insert, write=True)

    async def update(self, number: int, draft: LabelDraft, user: str) -> tuple[Label, Label]:
        """Replace label `number` by `draft`, changed by `user`: (before, after). Who made
        it and when are kept. UnknownLabel, Overlap, NotStored."""
        now = self._clock()

        async def replace(conn: SerialConnection) -> tuple[Label, Label]:
            before = await _label(conn, number)
            await _refuse_overlap(conn, draft, number)
            await conn.db.execute(
                "UPDATE labels SET asset = ?, start_s = ?, end_s = ?, kind = ?, fault_code = ?,"
                " note = ?, changed_by = ?, changed_s = ? WHERE id = ?",
                (*_draft_row(draft), user, now.timestamp(), number),
            )
            after = Label(number, draft, before.user, before.entered, user, now, before.event_id)
            return before, after

        return await self._file.run("change the label", replace, write=True)

    async def delete(self, number: int) -> Label:
        """Delete label `number`; the label deleted. UnknownLabel, NotStored."""

        async def remove(conn: SerialConnection) -> Label:
            found = await _label(conn, number)
            await conn.db.execute("DELETE FROM labels WHERE id = ?", (number,))
            return found

        return await self._file.run("delete the label", remove, write=True)

    async def get(self, number: int) -> Label:
        """Label `number`; UnknownLabel, NotStored."""
        return await self._file.run("read the labels", lambda conn: _label(conn, number))

    async def labels(
        self,
        *,
        assets: Collection[str] = (),
        kinds: Collection[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Label]:
        """Labels of any of `assets` and `kinds` (empty: all) overlapping [start, end],
        oldest start first, at most `limit`."""
        values = (
            json.dumps(list(assets)),
            json.dumps(list(kinds)),
            _seconds(start),
            _seconds(end),
            -1 if limit is None else limit,
        )

        async def select(conn: SerialConnection) -> list[Label]:
            async with conn.db.execute(_SELECT_LABELS, values) as cursor:
                return [_label_of(row) for row in await cursor.fetchall()]

        return await self._file.run("read the labels", select)

    async def fault_codes(self) -> list[str]:
        """The fault codes of labels and verdicts, the most used first."""

        async def select(conn: SerialConnection) -> list[str]:
            async with conn.db.execute(
                "SELECT fault_code, count(*) AS n FROM (SELECT fault_code FROM labels UNION ALL"
                " SELECT fault_code FROM verdicts) WHERE fault_code != ''"
                " GROUP BY fault_code ORDER BY n DESC, fault_code"
            ) as cursor:
                return [code for code, _ in await cursor.fetchall()]

        return await self._file.run("read the labels", select)

    # -- activations and verdicts ----------------------------------------------------------

    async def record_events(
        self, activations: Sequence[Activation], clears: Sequence[tuple[str, datetime]]
    ) -> None:
        """Record new `activations` and the `clears` (alarm, time) of the ones still open; a
        clear ends a verdict's label that was cut at its time."""
        rows = [
            (str(a.event_id), a.alarm, a.source, a.asset, a.activated.timestamp())
            for a in activations
        ]
        if not rows and not clears:
            return

        async def record(conn: SerialConnection) -> None:
            await conn.db.executemany(
                "INSERT OR IGNORE INTO activations (event_id, alarm, source, asset, activated_s)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            for alarm, at in clears:
                # A clear ends the activations before it: one batch may hold an activation,
                # its clear and the next activation of the same alarm.
                async with conn.db.execute(
                    "SELECT event_id FROM activations"
                    " WHERE alarm = ? AND cleared_s IS NULL AND activated_s <= ?",
                    (alarm, at.timestamp()),
                ) as cursor:
                    ended = [event_id for (event_id,) in await cursor.fetchall()]
                for event_id in ended:
                    await conn.db.execute(
                        "UPDATE activations SET cleared_s = ? WHERE event_id = ?",
                        (at.timestamp(), event_id),
                    )
                    await _extend_label(conn, event_id, at.timestamp())

        await self._file.run("record the alarm activations", record, write=True)

    async def activation(self, event_id: uuid.UUID) -> Activation:
        """The activation raised by `event_id`; UnknownEvent, NotStored."""
        return await self._file.run(
            "read the activations", lambda conn: _activation(conn, event_id)
        )

    async def latest_activation(self, alarm: str) -> Activation:
        """The latest recorded activation of `alarm`; UnknownEvent, NotStored."""

        async def select(conn: SerialConnection) -> Activation:
            async with conn.db.execute(
                "SELECT * FROM activation_rows WHERE alarm = ? ORDER BY activated_s DESC LIMIT 1",
                (alarm,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise UnknownEvent(f"no activation of alarm {alarm!r} is recorded")
            return _activation_of(row)

        return await self._file.run("read the activations", select)

    async def judge(
        self, event_id: uuid.UUID, draft: VerdictDraft, user: str
    ) -> tuple[Verdict, Label | None]:
        """Store `user`'s verdict on the activation `event_id` (replacing any earlier one)
        and, on a model alarm, its label: (verdict, label). UnknownEvent, Overlap,
        NotStored."""
        now = self._clock()

        async def store(conn: SerialConnection) -> tuple[Verdict, Label | None]:
            found = await _activation(conn, event_id)
            key = str(event_id)
            async with conn.db.execute(
                "SELECT user, entered_s FROM verdicts WHERE event_id = ?", (key,)
            ) as cursor:
                earlier = await cursor.fetchone()
            first_user, entered = (
                (user, now) if earlier is None else (earlier[0], _time(earlier[1]))
            )
            await conn.db.execute(
                "INSERT OR REPLACE INTO verdicts (event_id, verdict, fault_code, note, user,"
                " entered_s, changed_by, changed_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    draft.verdict,
                    draft.fault_code,
                    draft.note,
                    first_user,
                    entered.timestamp(),
                    user,
                    now.timestamp(),
                ),
            )
            verdict = Verdict(found, draft, first_user, entered, user, now)
            label = (
                None if found.asset is None else await _label_verdict(conn, found, draft, user, now)
            )
            return verdict, label

        return await self._file.run("store the verdict", store, write=True)

    async def verdicts(
        self,
        *,
        assets: Collection[str] = (),
        alarms: Collection[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Verdict]:
        """Verdicts on the model alarms of any of `assets` and on any of `alarms` (empty:
        all) whose activation overlaps [start, end], oldest activation first."""
        values = (
            json.dumps(list(assets)),
            json.dumps(list(alarms)),
            _seconds(start),
            _seconds(end),
            -1 if limit is None else limit,
        )

        async def select(conn: SerialConnection) -> list[Verdict]:
            async with conn.db.execute(_SELECT_VERDICTS, values) as cursor:
                return [_verdict_of(row) for row in await cursor.fetchall()]

        return await self._file.run("read the verdicts", select)


async def _refuse_overlap(conn: SerialConnection, draft: LabelDraft, number: int | None) -> None:
    other = _CONFLICTING.get(draft.kind)
    if other is None:
        return
    async with conn.db.execute(
        _IN_THE_WAY, (draft.asset, other, draft.end.timestamp(), draft.start.timestamp(), number)
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None:
        found = _label_of(row)
        raise Overlap(
            [
                f"{draft.kind} from {draft.start.isoformat()} to {draft.end.isoformat()} overlaps "
                f"label #{found.id} ({found.kind}, {found.start.isoformat()} to "
                f"{found.end.isoformat()}) of {draft.asset}: labels of normal and anomaly may not "
                "overlap on one asset; change or delete that label first"
            ]
        )


async def _label_verdict(
    conn: SerialConnection, found: Activation, draft: VerdictDraft, user: str, now: datetime
) -> Label:
    """Store (or replace) the label of a verdict on a model alarm."""
    assert found.asset is not None  # noqa: S101 - the caller's condition
    end = found.cleared or now
    note = f"verdict on {found.alarm}: {draft.note}".rstrip(": ")[:NOTE_MAX]
    label = LabelDraft(
        found.asset,
        found.activated,
        max(end, found.activated),
        KIND_OF_VERDICT[draft.verdict],
        draft.fault_code,
        note,
    )
    key = str(found.event_id)
    async with conn.db.execute("SELECT * FROM label_rows WHERE event_id = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    before = None if row is None else _label_of(row)
    await _refuse_overlap(conn, label, None if before is None else before.id)
    if before is None:
        cursor = await conn.db.execute(
            _INSERT_LABEL,
            (*_draft_row(label), user, now.timestamp(), user, now.timestamp(), key),
        )
        return Label(cursor.lastrowid or 0, label, user, now, user, now, found.event_id)
    await conn.db.execute(
        "UPDATE labels SET start_s = ?, end_s = ?, kind = ?, fault_code = ?, note = ?,"
        " changed_by = ?, changed_s = ? WHERE id = ?",
        (*_draft_row(label)[1:], user, now.timestamp(), before.id),
    )
    return Label(before.id, label, before.user, before.entered, user, now, found.event_id)


async def _extend_label(conn: SerialConnection, event_id: str, cleared_s: float) -> None:
    """End the label of a verdict given while its alarm was active at the clear, unless that
    would overlap a label of the other class (then it keeps its end, logged)."""
    async with conn.db.execute(
        "SELECT * FROM label_rows WHERE event_id = ?", (event_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return
    label = _label_of(row)
    longer = LabelDraft(
        label.draft.asset,
        label.start,
        _time(cleared_s),
        label.kind,
        label.fault_code,
        label.draft.note,
    )
    try:
        await _refuse_overlap(conn, longer, label.id)
    except Overlap as overlap:
        logger.info("label #%d keeps its end at the alarm's clear: %s", label.id, overlap)
        return
    await conn.db.execute("UPDATE labels SET end_s = ? WHERE id = ?", (cleared_s, label.id))


async def _label(conn: SerialConnection, number: int) -> Label:
    async with conn.db.execute("SELECT * FROM label_rows WHERE id = ?", (number,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownLabel(number)
    return _label_of(row)


async def _activation(conn: SerialConnection, event_id: uuid.UUID) -> Activation:
    async with conn.db.execute(
        "SELECT * FROM activation_rows WHERE event_id = ?", (str(event_id),)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownEvent(
            f"no alarm activation {event_id} is recorded (only events that "
            "raised an alarm can be judged)"
        )
    return _activation_of(row)


def _draft_row(draft: LabelDraft) -> tuple[object, ...]:
    return (
        draft.asset,
        draft.start.timestamp(),
        draft.end.timestamp(),
        draft.kind,
        draft.fault_code,
        draft.note,
    )


def _seconds(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _label_of(row: Sequence[Any]) -> Label:
    (
        number,
        asset,
        start_s,
        end_s,
        kind,
        fault_code,
        note,
        user,
        entered_s,
        changed_by,
        changed_s,
        event_id,
    ) = row
    draft = LabelDraft(asset, _time(start_s), _time(end_s), kind, fault_code, note)
    return Label(
        number,
        draft,
        user,
        _time(entered_s),
        changed_by,
        _time(changed_s),
        None if event_id is None else uuid.UUID(event_id),
    )


def _activation_of(row: Sequence[Any]) -> Activation:
    event_id, alarm, source, asset, activated_s, cleared_s = row
    return Activation(
        uuid.UUID(event_id),
        alarm,
        source,
        asset,
        _time(activated_s),
        None if cleared_s is None else _time(cleared_s),
    )


def _verdict_of(row: Sequence[Any]) -> Verdict:
    verdict, fault_code, note, user, entered_s, changed_by, changed_s = row[6:]
    return Verdict(
        _activation_of(row[:6]),
        VerdictDraft(verdict, fault_code, note),
        user,
        _time(entered_s),
        changed_by,
        _time(changed_s),
    )
