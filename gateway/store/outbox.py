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

A full disk (issue #17) never stops the gateway, and the outbox gives way in this order:
- telemetry is refused (`MessageRefused`, counted with reason "disk_full") as soon as less
  than `telemetry_min_free_bytes` is free, to leave the last space to state and alarms;
- state is refused when its write fails, or while alarms wait in memory (a state must not
  take the space they need);
- alarms are kept in memory, in order, when their write fails (or the file cannot even be
  opened, as at a start on a full disk), and written by the next `put_sequenced` or
  `retry` once space returns. They are numbered when they are written, so what MES sees
  stays gap-free; when more than `max_messages` wait, the oldest is dropped (counted,
  logged as ERROR) and its number is consumed all the same: MES sees an honest gap.
  Alarms in memory die with the process; the alarm state file could not record them
  either, so after a restart the alarms start again from their saved state.
- deletions of delivered messages that fail are kept and done again later; `peek` skips
  them meanwhile, so nothing is sent twice.
Every failure and recovery is reported to the `StorageHealth` (gateway.core.storage).
"""

from __future__ import annotations

import enum
import logging
import shutil
import time
from collections import Counter, deque
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.core.storage import StorageHealth
from gateway.store.sqlite_file import Serial, Synchronous, open_sqlite

logger = logging.getLogger(__name__)


class Kind(enum.StrEnum):
    """What a message carries; decides the order of eviction on overflow."""

    ALARM = "alarm"
    STATE = "state"
    TELEMETRY = "telemetry"


class DropReason(enum.StrEnum):
    """Why the outbox dropped a message without delivering it."""

    OVERFLOW = "overflow"
    EXPIRED = "expired"
    DISK_FULL = "disk_full"  # refused, or dropped from memory, while the disk was full


STORE = "outbox"  # its name in StorageHealth, /metrics and the page
# Telemetry is refused below this much free space (issue #17): the rest is for state and
# alarms.
TELEMETRY_MIN_FREE_BYTES = 16 * 1024 * 1024


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
# Skips the delivered messages whose deletion failed and waits (a JSON array).
_SELECT = (
    "SELECT seq, message_id, kind, topic, payload, qos, retain, created_s FROM outbox"
    " WHERE seq > ? AND seq NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?"
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


class MessageRefused(Exception):
    """The outbox cannot store this message now (a full disk): it was dropped and counted."""


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
        path: Path,
        max_messages: int,
        max_age_s: float,
        alarm_max_age_s: float | None,
        fsync: bool,
        telemetry_min_free_bytes: int,
        health: StorageHealth,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self._fsync = fsync
        # None until the file could be opened: a start on a full disk cannot even read an
        # existing WAL database (issue #17); `retry` opens it once space returns.
        self._db: aiosqlite.Connection | None = None
        self._depth = 0  # rows in the file
        self._max_messages = max_messages
        self._max_ages = {Kind.TELEMETRY: max_age_s, Kind.STATE: max_age_s}
        if alarm_max_age_s is not None:
            self._max_ages[Kind.ALARM] = alarm_max_age_s
        self._clock = clock
        # Serialises use of the one connection: a put's BEGIN..COMMIT spans several awaits,
        # and a concurrent ack must not land inside (or be rolled back with) it.
        self._serial = Serial()
        self._dropped: Counter[tuple[Kind, DropReason]] = Counter()
        # Worst kind evicted since the outbox was last below its bound: logs transitions only.
        self._overflowing: Kind | None = None
        self._telemetry_min_free_bytes = telemetry_min_free_bytes
        self._health = health
        # Alarms whose write failed, oldest first, and how many older ones were dropped from
        # memory since the last write (their numbers are consumed: an honest gap).
        self._held: deque[Callable[[int], Message]] = deque()
        self._held_dropped = 0
        self._unacked: set[int] = set()  # delivered, their deletion failed: done again later

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
        telemetry_min_free_bytes: int = TELEMETRY_MIN_FREE_BYTES,
        health: StorageHealth | None = None,
        clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[Outbox]:
        """Open (creating if needed) the outbox file at `path`; closed on exit.

        A file that cannot be opened (a full disk) is reported to `health` and opened
        later by `retry`; meanwhile alarms wait in memory.
        """
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1 (got {max_messages})")
        path = Path(path)
        outbox = cls(path, max_messages, max_age_s, alarm_max_age_s, fsync,
                     telemetry_min_free_bytes, health or StorageHealth(path.parent), clock)
        try:
            await outbox._serial.run(outbox._connect())
            yield outbox
        finally:
            await outbox._serial.settle()
            if outbox._db is not None:
                await outbox._db.close()

    async def put(self, message: Message) -> int:
        """Queue one message; it is committed when this returns. Returns its seq."""
        (seq,) = await self.put_many([message])
        return seq

    async def put_many(self, messages: Sequence[Message]) -> list[int]:
        """Queue messages in one transaction (all or none); returns their seqs in order.

        Raises MessageRefused (the messages are dropped and counted) when the disk has no
        room for them: see the module's docstring for the order in which kinds give way.
        """
        if not messages:
            return []
        rows = [_row(message) for message in messages]
        kinds = [Kind(message.kind) for message in messages]
        seqs, evicted = await self._serial.run(self._insert_or_refuse(rows, kinds))
        self._log_overflow(evicted)
        return seqs

    async def put_sequenced(self, builders: Sequence[Callable[[int], Message]]) -> list[int]:
        """Queue one message per builder, each built from the next alarm number, in one
        transaction with the numbering (all or none); returns the numbers, in order.

        When the write fails for lack of space, the builders wait in memory (returns []):
        they are numbered and written, after any older ones, by a later call or `retry`.
        """
        if not builders:
            return []
        numbers, evicted = await self._serial.run(self._hold_and_write(builders))
        self._log_overflow(evicted)
        return numbers

    async def retry(self) -> int:
        """Open the file, delete what was delivered, and write the alarms waiting in memory,
        if the disk has room again; returns how many alarms were written."""
        numbers, evicted = await self._serial.run(self._retry())
        self._log_overflow(evicted)
        return len(numbers)

    def waiting(self) -> bool:
        """True while something waits for space: the file itself, alarms or deletions."""
        return self._db is None or bool(self._held) or bool(self._unacked)

    def held(self) -> int:
        """Alarms waiting in memory for space to be written."""
        return len(self._held)

    async def peek(self, n: int, *, after: int = 0) -> list[Stored]:
        """Return up to `n` oldest queued messages whose seq is above `after`, oldest first,
        after dropping expired ones."""
        rows = await self._serial.run(self._select(n, after))
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
        """Delete delivered messages in one commit; returns how many were still queued.

        If the deletion fails (a full disk), it is done again later and `peek` skips these
        messages meanwhile; returns 0 then.
        """
        return await self._serial.run(self._ack([int(seq) for seq in seqs]))

    async def expire(self) -> int:
        """Drop messages older than their kind's maximum age; returns how many."""
        return await self._serial.run(self._expire())

    def depth(self) -> int:
        """Number of queued messages, the alarms waiting in memory included."""
        return self._depth + len(self._held)

    def dropped(self) -> Mapping[tuple[Kind, DropReason], int]:
        """Messages dropped since open, by (kind, reason)."""
        return dict(self._dropped)

    async def _connect(self) -> bool:
        """Open the file unless it is open; False (reported) when it cannot be."""
        if self._db is not None:
            return True
        synchronous: Synchronous = "FULL" if self._fsync else "NORMAL"
        try:
            db = await open_sqlite(self.path, synchronous=synchronous, script=_SCHEMA)
            try:
                async with db.execute("SELECT COUNT(*) FROM outbox") as cursor:
                    row = await cursor.fetchone()
            except BaseException:
                await db.close()  # not kept: nothing would ever close it
                raise
        except Exception as error:
            return self._failed(f"open {self.path}", error)
        self._db = db
        self._depth = row[0] if row else 0
        logger.debug("outbox %r opened with %d queued messages", str(self.path), self._depth)
        self._recovered()
        return True

    def _failed(self, action: str, error: Exception) -> bool:
        """Report a storage error (returns False); raise anything else."""
        self._health.absorb(STORE, action, error)
        return False

    def _recovered(self) -> None:
        if not self.waiting():
            self._health.ok(STORE)

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError(f"outbox {self.path} is not open")
        return self._db

    async def _select(self, n: int, after: int) -> list[Any]:
        if not await self._connect():
            return []
        try:
            await self._expire()
        except Exception as error:  # a full disk: send them rather than nothing
            self._failed("drop expired messages", error)
        unacked = _json_array(self._unacked)
        try:
            async with self._conn.execute(_SELECT, (after, unacked, n)) as cursor:
                return list(await cursor.fetchall())
        except Exception as error:
            self._failed("read the queued messages", error)
            return []

    async def _ack(self, seqs: list[int]) -> int:
        if self._unacked:
            await self._delete_unacked()
        try:
            cursor = await self._conn.execute(_ACK, (_json_array(seqs),))
        except Exception as error:
            self._failed("delete delivered messages", error)
            self._unacked.update(seqs)
            return 0
        self._depth -= cursor.rowcount
        self._recovered()
        return cursor.rowcount

    async def _delete_unacked(self) -> None:
        try:
            cursor = await self._conn.execute(_ACK, (_json_array(self._unacked),))
        except Exception as error:
            self._failed("delete delivered messages", error)
            return
        self._depth -= cursor.rowcount
        self._unacked.clear()

    async def _insert_or_refuse(
        self, rows: list[tuple[object, ...]], kinds: list[Kind]
    ) -> tuple[list[int], list[Kind]]:
        reason = await self._refusal(kinds)
        if reason is None:
            try:
                inserted = await self._insert(rows)
            except Exception as error:
                self._failed(f"store {kinds[0].value} messages", error)
                reason = f"the write failed: {error}"
            else:
                self._recovered()
                return inserted
        self._count(kinds, DropReason.DISK_FULL)
        raise MessageRefused(f"{len(rows)} messages ({kinds[0].value}) refused: {reason}")

    async def _refusal(self, kinds: list[Kind]) -> str | None:
        """Why the disk has no room for messages of these kinds now, or None."""
        if not await self._connect():
            return "the outbox file cannot be opened"
        if self._held and Kind.ALARM not in kinds:
            return f"{len(self._held)} alarms wait in memory for space"
        if Kind.TELEMETRY in kinds:
            free = shutil.disk_usage(self.path.parent).free
            if free < self._telemetry_min_free_bytes:
                return f"{free} bytes free, telemetry needs {self._telemetry_min_free_bytes}"
        return None

    async def _hold_and_write(
        self, builders: Sequence[Callable[[int], Message]]
    ) -> tuple[list[int], list[Kind]]:
        self._held.extend(builders)
        try:
            numbers, evicted = await self._write_held()
        except BaseException:
            # Not for want of space (a builder failed, a duplicate id): refuse these alone.
            for _ in builders:
                self._held.pop()
            raise
        return numbers[-len(builders):], evicted

    def _bound_held(self) -> None:
        """Keep at most `max_messages` alarms in memory: drop the oldest, numbers consumed."""
        excess = len(self._held) - self._max_messages
        if excess <= 0:
            return
        if not self._held_dropped:
            logger.error("outbox: %d alarms wait in memory for space: dropping the oldest; "
                         "MES sees the gap in seq", self._max_messages)
        for _ in range(excess):
            self._held.popleft()
        self._held_dropped += excess
        self._count([Kind.ALARM] * excess, DropReason.DISK_FULL)

    async def _write_held(self) -> tuple[list[int], list[Kind]]:
        """Write the alarms waiting in memory, numbered after the ones dropped from it."""
        if not self._held:
            return [], []
        if not await self._connect():
            self._bound_held()
            return [], []
        try:
            numbers, evicted = await self._insert_sequenced(list(self._held),
                                                            skip=self._held_dropped)
        except Exception as error:
            self._failed("store alarms (kept in memory)", error)
            self._bound_held()
            return [], []
        if len(numbers) > 1 or self._held_dropped:
            logger.info("outbox: wrote %d alarms that waited in memory for space (%d dropped)",
                        len(numbers), self._held_dropped)
        self._held.clear()
        self._held_dropped = 0
        self._recovered()
        return numbers, evicted

    async def _retry(self) -> tuple[list[int], list[Kind]]:
        if not await self._connect():
            return [], []
        if self._unacked:
            await self._delete_unacked()
        written = await self._write_held()
        self._recovered()
        return written

    async def _insert(self, rows: list[tuple[object, ...]]) -> tuple[list[int], list[Kind]]:
        excess = self._excess(len(rows))
        # Without eviction and in one statement, autocommit makes it one transaction by itself.
        explicit = excess > 0 or len(rows) > _ROWS_PER_INSERT
        async with self._transaction(explicit):
            seqs, evicted = await self._insert_rows(rows)
        self._inserted(len(rows), evicted)
        return seqs, evicted

    async def _insert_sequenced(
        self, builders: Sequence[Callable[[int], Message]], skip: int
    ) -> tuple[list[int], list[Kind]]:
        """Number and insert; the first `skip` numbers are consumed unused (dropped alarms)."""
        async with self._transaction(explicit=True):
            async with self._conn.execute(_GET_COUNTER, (_ALARM_COUNTER,)) as cursor:
                row = await cursor.fetchone()
            first = (row[0] if row else 0) + 1 + skip
            numbers = list(range(first, first + len(builders)))
            rows = [_row(build(n)) for build, n in zip(builders, numbers, strict=True)]
            _, evicted = await self._insert_rows(rows)
            await self._conn.execute(_SET_COUNTER, (_ALARM_COUNTER, numbers[-1]))
        self._inserted(len(rows), evicted)
        return numbers, evicted

    @asynccontextmanager
    async def _transaction(self, explicit: bool) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE .. COMMIT around the body if `explicit`, ROLLBACK if it fails."""
        try:
            if explicit:
                await self._conn.execute("BEGIN IMMEDIATE")
            yield
            if explicit:
                await self._conn.execute("COMMIT")
        except BaseException as error:
            if explicit and self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
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
        async with self._conn.execute(f"{_INSERT} {values} RETURNING seq", args) as cursor:
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
        async with self._conn.execute(sql, args) as cursor:
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
