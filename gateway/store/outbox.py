"""Durable store-and-forward outbox for outbound messages (issue #4), on aiosqlite in WAL mode.

Transport-agnostic: a message is a topic, a payload, QoS/retain flags, a kind and a unique
id. A sender peeks the oldest messages, publishes them, and acks each one once the broker
confirmed it (PUBACK), so delivery is in order and nothing is deleted before it was accepted.
A message is durable when `put` returns: its transaction is committed. With `fsync=True`
(the default) SQLite runs `synchronous=FULL`, so a commit also survives power loss; with
`fsync=False` (`synchronous=NORMAL`) it survives a killed process but maybe not a power cut.

Bounds and the overflow policy (the spec: never drop an alarm before telemetry):
- Size: at most `max_messages` rows. A put that would exceed it evicts, in the same
  transaction, the oldest telemetry first, then the oldest state, and alarms only when
  nothing else is left. Each eviction is counted by kind with reason "overflow"; the start
  of overflow is logged once (WARNING, ERROR as soon as alarms go) and its end once (INFO).
- Age: telemetry and state older than `max_age_s` are dropped (reason "expired") before a
  peek, so a sender never publishes stale values after a long outage. Alarms do not expire
  unless `alarm_max_age_s` is given: they are rare, MES must see every transition (the
  per-gateway `seq` lets it detect a gap), and the size bound still caps them.

Counters of dropped messages live in memory, since the outbox was opened; they are meant
for metrics and status objects, not for the log.

Alarm numbering: `put_sequenced` gives each alarm message the next number of a per-file
counter, read and advanced in the same transaction as the insert, so a crash never leaves
a gap nor reuses a number, and a rolled-back put consumes none. A receiver that sees a
gap knows an alarm went missing (evicted on overflow, or lost downstream).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Kind(enum.StrEnum):
    """What a message carries; decides the order of eviction on overflow."""

    ALARM = "alarm"
    STATE = "state"
    TELEMETRY = "telemetry"


class DropReason(enum.StrEnum):
    """Why the outbox dropped a message without delivering it."""

    OVERFLOW = "overflow"
    EXPIRED = "expired"


# Lower rank is evicted first; stored as a column so eviction walks an index.
_RANK = {Kind.TELEMETRY: 0, Kind.STATE: 1, Kind.ALARM: 2}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    rank INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_eviction ON outbox (rank, seq);
CREATE INDEX IF NOT EXISTS outbox_age ON outbox (rank, created_s);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_INSERT = (
    "INSERT INTO outbox (message_id, kind, rank, topic, payload, qos, retain, created_s) VALUES"
)
_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?)"
# SQLite binds at most 32766 parameters per statement; 8 per row.
_ROWS_PER_INSERT = 1000
_EVICT = (
    "DELETE FROM outbox WHERE seq IN"
    " (SELECT seq FROM outbox ORDER BY rank, seq LIMIT ?) RETURNING kind"
)
_EXPIRE = "DELETE FROM outbox WHERE rank = ? AND created_s < ? RETURNING kind"
_SELECT = (
    "SELECT seq, message_id, kind, topic, payload, qos, retain, created_s"
    " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
)
# json_each turns one bound JSON array into rows: a batch ack is one statement, one commit.
_ACK = "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))"
_ALARM_COUNTER = "alarm"
_GET_COUNTER = "SELECT value FROM counters WHERE name = ?"
_SET_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)


class DuplicateMessage(ValueError):
    """A message with this id is already queued."""


@dataclass(frozen=True, slots=True)
class Message:
    """One outbound message; `created_s` is wall-clock epoch seconds (it must survive restarts)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: Kind
    message_id: str
    created_s: float


@dataclass(frozen=True, slots=True)
class Stored:
    """A queued message with its sequence number, the handle for `ack`."""

    seq: int
    message: Message


class Outbox:
    """A bounded, durable FIFO of outbound messages; use `Outbox.open`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        depth: int,
        max_messages: int,
        max_age_s: float,
        alarm_max_age_s: float | None,
        clock: Callable[[], float],
    ) -> None:
        self._db = db
        self._depth = depth
        self._max_messages = max_messages
        self._max_ages = {Kind.TELEMETRY: max_age_s, Kind.STATE: max_age_s}
        if alarm_max_age_s is not None:
            self._max_ages[Kind.ALARM] = alarm_max_age_s
        self._clock = clock
        # Serialises use of the one connection: a put's BEGIN..COMMIT spans several awaits,
        # and a concurrent ack must not land inside (or be rolled back with) it.
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dropped: Counter[tuple[Kind, DropReason]] = Counter()
        # Worst kind evicted since the outbox was last below its bound: logs transitions only.
        self._overflowing: Kind | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path | str,
        *,
        max_messages: int,
        max_age_s: float,
        alarm_max_age_s: float | None = None,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[Outbox]:
        """Open (creating if needed) the outbox file at `path`; closed on exit."""
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1 (got {max_messages})")
        # isolation_level=None: autocommit, so one statement is one transaction and
        # multi-statement transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            await db.executescript(_SCHEMA)
            async with db.execute("SELECT COUNT(*) FROM outbox") as cursor:
                row = await cursor.fetchone()
            depth = row[0] if row else 0
            logger.debug("outbox %r opened with %d queued messages", str(path), depth)
            outbox = cls(db, depth, max_messages, max_age_s, alarm_max_age_s, clock)
            try:
                yield outbox
            finally:
                await outbox._settle()

    async def put(self, message: Message) -> int:
        """Queue one message; it is committed when this returns. Returns its seq."""
        (seq,) = await self.put_many([message])
        return seq

    async def put_many(self, messages: Sequence[Message]) -> list[int]:
        """Queue messages in one transaction (all or none); returns their seqs in order."""
        if not messages:
            return []
        rows = [_row(message) for message in messages]
        seqs, evicted = await self._serialised(self._insert(rows))
        self._log_overflow(evicted)
        return seqs

    async def put_sequenced(self, builders: Sequence[Callable[[int], Message]]) -> list[int]:
        """Queue one message per builder, each built from the next alarm number, in one
        transaction with the numbering (all or none); returns the numbers, in order."""
        if not builders:
            return []
        numbers, evicted = await self._serialised(self._insert_sequenced(builders))
        self._log_overflow(evicted)
        return numbers

    async def peek(self, n: int, *, after: int = 0) -> list[Stored]:
        """Return up to `n` oldest queued messages whose seq is above `after`, oldest first,
        after dropping expired ones."""
        rows = await self._serialised(self._select(n, after))
        return [
            Stored(
                seq,
                Message(topic, payload, qos, bool(retain), Kind(kind), message_id, created_s),
            )
            for seq, message_id, kind, topic, payload, qos, retain, created_s in rows
        ]

    async def ack(self, seq: int) -> bool:
        """Delete a delivered message; False if it was no longer queued (evicted or acked)."""
        return await self.ack_many([seq]) == 1

    async def ack_many(self, seqs: Iterable[int]) -> int:
        """Delete delivered messages in one commit; returns how many were still queued."""
        return await self._serialised(self._ack(_json_array(seqs)))

    async def expire(self) -> int:
        """Drop messages older than their kind's maximum age; returns how many."""
        return await self._serialised(self._expire())

    def depth(self) -> int:
        """Number of queued messages."""
        return self._depth

    def dropped(self) -> Mapping[tuple[Kind, DropReason], int]:
        """Messages dropped since open, by (kind, reason)."""
        return dict(self._dropped)

    def _serialised(self, operation: Coroutine[None, None, T]) -> Awaitable[T]:
        # A cancelled caller must not stop SQLite work half-way: aiosqlite runs a queued
        # statement anyway, so the in-memory depth would drift from the file, and an
        # explicit transaction could be left open for the next operation.
        task = asyncio.get_running_loop().create_task(self._locked(operation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return asyncio.shield(task)

    async def _locked(self, operation: Coroutine[None, None, T]) -> T:
        async with self._lock:
            return await operation

    async def _settle(self) -> None:
        # Shielded operations whose callers were cancelled finish before the file closes.
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _select(self, n: int, after: int) -> list[Any]:
        await self._expire()
        async with self._db.execute(_SELECT, (after, n)) as cursor:
            return list(await cursor.fetchall())

    async def _ack(self, array: str) -> int:
        cursor = await self._db.execute(_ACK, (array,))
        self._depth -= cursor.rowcount
        return cursor.rowcount

    async def _insert(self, rows: list[tuple[object, ...]]) -> tuple[list[int], list[Kind]]:
        excess = self._excess(len(rows))
        # Without eviction and in one statement, autocommit makes it one transaction by itself.
        explicit = excess > 0 or len(rows) > _ROWS_PER_INSERT
        async with self._transaction(explicit):
            seqs, evicted = await self._insert_rows(rows)
        self._inserted(len(rows), evicted)
        return seqs, evicted

    async def _insert_sequenced(
        self, builders: Sequence[Callable[[int], Message]]
    ) -> tuple[list[int], list[Kind]]:
        async with self._transaction(explicit=True):
            async with self._db.execute(_GET_COUNTER, (_ALARM_COUNTER,)) as cursor:
                row = await cursor.fetchone()
            first = (row[0] if row else 0) + 1
            numbers = list(range(first, first + len(builders)))
            rows = [_row(build(n)) for build, n in zip(builders, numbers, strict=True)]
            _, evicted = await self._insert_rows(rows)
            await self._db.execute(_SET_COUNTER, (_ALARM_COUNTER, numbers[-1]))
        self._inserted(len(rows), evicted)
        return numbers, evicted

    @asynccontextmanager
    async def _transaction(self, explicit: bool) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE .. COMMIT around the body if `explicit`, ROLLBACK if it fails."""
        try:
            if explicit:
                await self._db.execute("BEGIN IMMEDIATE")
            yield
            if explicit:
                await self._db.execute("COMMIT")
        except BaseException as error:
            if explicit and self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            if isinstance(error, aiosqlite.IntegrityError):
                raise DuplicateMessage(str(error)) from error
            raise

    async def _insert_rows(self, rows: list[tuple[object, ...]]) -> tuple[list[int], list[Kind]]:
        """Insert rows, then evict what exceeds the bound; the caller owns the transaction."""
        excess = self._excess(len(rows))
        seqs = []
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            seqs += await self._insert_chunk(rows[start : start + _ROWS_PER_INSERT])
        evicted = await self._delete(_EVICT, (excess,)) if excess > 0 else []
        return seqs, evicted

    def _excess(self, count: int) -> int:
        """How many rows inserting `count` more puts above the bound."""
        return self._depth + count - self._max_messages

    def _inserted(self, count: int, evicted: list[Kind]) -> None:
        # Only after the commit: a rolled-back insert changed nothing.
        self._depth += count - len(evicted)
        self._count(evicted, DropReason.OVERFLOW)

    async def _insert_chunk(self, rows: list[tuple[object, ...]]) -> list[int]:
        values = ", ".join([_VALUES] * len(rows))
        args = [field for row in rows for field in row]
        async with self._db.execute(f"{_INSERT} {values} RETURNING seq", args) as cursor:
            returned = await cursor.fetchall()
        # RETURNING order is unspecified, but rows take increasing seqs in VALUES order.
        return sorted(seq for (seq,) in returned)

    async def _expire(self) -> int:
        now = self._clock()
        expired: list[Kind] = []
        for kind, max_age_s in self._max_ages.items():
            expired += await self._delete(_EXPIRE, (_RANK[kind], now - max_age_s))
        self._depth -= len(expired)
        self._count(expired, DropReason.EXPIRED)
        if expired:
            logger.debug("outbox dropped %d expired messages", len(expired))
        return len(expired)

    async def _delete(self, sql: str, args: tuple[float, ...]) -> list[Kind]:
        async with self._db.execute(sql, args) as cursor:
            return [Kind(kind) for (kind,) in await cursor.fetchall()]

    def _count(self, kinds: list[Kind], reason: DropReason) -> None:
        self._dropped.update((kind, reason) for kind in kinds)

    def _log_overflow(self, evicted: list[Kind]) -> None:
        if not evicted:
            if self._overflowing is not None:
                logger.info("outbox below its bound of %d messages again", self._max_messages)
                self._overflowing = None
            return
        worst = max(evicted, key=_RANK.__getitem__)
        if self._overflowing is not None and _RANK[worst] <= _RANK[self._overflowing]:
            return
        self._overflowing = worst
        log = logger.error if worst is Kind.ALARM else logger.warning
        log("outbox full (%d messages): dropping oldest %s", self._max_messages, worst.value)


def _row(message: Message) -> tuple[object, ...]:
    if message.qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2 (got {message.qos!r})")
    kind = Kind(message.kind)
    return (
        message.message_id,
        kind.value,
        _RANK[kind],
        message.topic,
        message.payload,
        message.qos,
        int(message.retain),
        message.created_s,
    )


def _json_array(seqs: Iterable[int]) -> str:
    # int() rejects anything that is not a sequence number before it reaches SQL.
    return "[" + ",".join(str(int(seq)) for seq in seqs) + "]"
