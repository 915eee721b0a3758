"""The durable outbox: order, ack, overflow policy by kind, age expiry, reopen, concurrency."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store import DropReason, DuplicateMessage, Kind, Message, Outbox, Stored

T0 = 1_800_000_000.0


class Clock:
    """Wall clock the tests advance by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def message(n: int, kind: Kind = Kind.TELEMETRY, created_s: float = T0) -> Message:
    return Message(
        topic=f"uvelka/gw1/{kind.value}/{n}",
        payload=f'{{"n": {n}}}'.encode(),
        qos=1,
        retain=kind is Kind.STATE,
        kind=kind,
        message_id=f"{kind.value}-{n}",
        created_s=created_s,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
async def outbox(path: Path, clock: Clock) -> AsyncIterator[Outbox]:
    async with Outbox.open(path, max_messages=5000, max_age_s=3600.0, clock=clock) as opened:
        yield opened


async def test_peek_returns_oldest_first_with_every_field(outbox: Outbox) -> None:
    sent = [message(n, kind) for n, kind in enumerate([Kind.STATE, Kind.ALARM, Kind.TELEMETRY])]
    seqs = [await outbox.put(m) for m in sent]

    assert seqs == sorted(seqs)
    assert await outbox.peek(10) == [Stored(s, m) for s, m in zip(seqs, sent, strict=True)]
    assert [s.seq for s in await outbox.peek(2)] == seqs[:2]
    assert outbox.depth() == 3


async def test_put_many_spanning_several_statements_keeps_order(outbox: Outbox) -> None:
    # 2,500 rows need three INSERT statements (1,000 rows each) in one transaction.
    sent = [message(n) for n in range(2500)]
    seqs = await outbox.put_many(sent)

    stored = await outbox.peek(3000)
    assert [s.seq for s in stored] == seqs
    assert [s.message for s in stored] == sent
    assert outbox.depth() == 2500


async def test_ack_deletes_only_that_message(outbox: Outbox) -> None:
    seqs = await outbox.put_many([message(n) for n in range(5)])

    assert await outbox.ack(seqs[2]) is True
    assert await outbox.ack(seqs[2]) is False
    assert [s.seq for s in await outbox.peek(10)] == [seqs[0], seqs[1], seqs[3], seqs[4]]
    assert await outbox.ack_many([seqs[0], seqs[4], 999_999]) == 2
    assert [s.seq for s in await outbox.peek(10)] == [seqs[1], seqs[3]]
    assert outbox.depth() == 2


async def test_duplicate_id_rejects_the_whole_batch(outbox: Outbox) -> None:
    await outbox.put(message(1))

    with pytest.raises(DuplicateMessage):
        await outbox.put_many([message(2), message(1)])
    assert [s.message.message_id for s in await outbox.peek(10)] == ["telemetry-1"]
    assert outbox.depth() == 1


async def test_overflow_drops_telemetry_then_state_then_alarms(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.store.outbox")
    async with Outbox.open(path, max_messages=4, max_age_s=3600.0) as outbox:
        await outbox.put_many(
            [message(1, Kind.ALARM), message(2), message(3, Kind.STATE), message(4)]
        )
        # Full: each new alarm evicts the oldest telemetry, then state, then the oldest alarm.
        for n in range(5, 9):
            await outbox.put(message(n, Kind.ALARM))
            kept = [s.message.message_id for s in await outbox.peek(10)]
            assert len(kept) == 4
        assert kept == ["alarm-5", "alarm-6", "alarm-7", "alarm-8"]
        assert outbox.dropped() == {
            (Kind.TELEMETRY, DropReason.OVERFLOW): 2,
            (Kind.STATE, DropReason.OVERFLOW): 1,
            (Kind.ALARM, DropReason.OVERFLOW): 1,
        }
        await outbox.ack_many(s.seq for s in await outbox.peek(1))
        await outbox.put(message(9))
        assert outbox.depth() == 4

    # Logged once per transition: each worse kind evicted, then back below the bound.
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.WARNING, "outbox full (4 messages): dropping oldest telemetry"),
        (logging.WARNING, "outbox full (4 messages): dropping oldest state"),
        (logging.ERROR, "outbox full (4 messages): dropping oldest alarm"),
        (logging.INFO, "outbox below its bound of 4 messages again"),
    ]


async def test_overflow_in_one_batch_keeps_alarms(path: Path) -> None:
    async with Outbox.open(path, max_messages=3, max_age_s=3600.0) as outbox:
        batch = [message(1), message(2, Kind.ALARM), message(3), message(4, Kind.STATE)]
        await outbox.put_many([*batch, message(5)])

        kept = [s.message.message_id for s in await outbox.peek(10)]
        assert kept == ["alarm-2", "state-4", "telemetry-5"]
        assert outbox.dropped() == {(Kind.TELEMETRY, DropReason.OVERFLOW): 2}


async def test_expired_telemetry_and_state_dropped_alarms_kept(
    outbox: Outbox, clock: Clock
) -> None:
    await outbox.put_many(
        [
            message(1, Kind.ALARM, created_s=T0),
            message(2, Kind.TELEMETRY, created_s=T0),
            message(3, Kind.STATE, created_s=T0),
            message(4, Kind.TELEMETRY, created_s=T0 + 100.0),
        ]
    )
    clock.now = T0 + 3600.0 + 50.0

    kept = [s.message.message_id for s in await outbox.peek(10)]
    assert kept == ["alarm-1", "telemetry-4"]
    assert outbox.depth() == 2
    assert outbox.dropped() == {
        (Kind.TELEMETRY, DropReason.EXPIRED): 1,
        (Kind.STATE, DropReason.EXPIRED): 1,
    }


async def test_alarm_max_age_expires_alarms_when_configured(path: Path, clock: Clock) -> None:
    async with Outbox.open(
        path, max_messages=10, max_age_s=60.0, alarm_max_age_s=600.0, clock=clock
    ) as outbox:
        await outbox.put_many([message(1, Kind.ALARM), message(2, Kind.ALARM, T0 + 500.0)])
        clock.now = T0 + 601.0

        assert await outbox.expire() == 1
        assert [s.message.message_id for s in await outbox.peek(10)] == ["alarm-2"]
        assert outbox.dropped() == {(Kind.ALARM, DropReason.EXPIRED): 1}


async def test_reopen_after_close_keeps_everything(path: Path, clock: Clock) -> None:
    sent = [message(n, kind) for n, kind in enumerate([Kind.ALARM, Kind.STATE, Kind.TELEMETRY])]
    async with Outbox.open(path, max_messages=10, max_age_s=3600.0, clock=clock) as outbox:
        seqs = await outbox.put_many(sent)
        await outbox.ack(seqs[1])
        # WAL mode: commits land in the write-ahead log next to the database file.
        assert path.with_name(path.name + "-wal").stat().st_size > 0

    async with Outbox.open(path, max_messages=10, max_age_s=3600.0, clock=clock) as outbox:
        assert outbox.depth() == 2
        assert await outbox.peek(10) == [Stored(seqs[0], sent[0]), Stored(seqs[2], sent[2])]
        # Sequence numbers keep increasing across restarts (AUTOINCREMENT never reuses).
        assert await outbox.put(message(9)) > seqs[2]


async def test_concurrent_put_while_draining_delivers_all_in_order(outbox: Outbox) -> None:
    total = 3000
    delivered: list[str] = []

    async def produce() -> None:
        for start in range(0, total, 50):
            await outbox.put_many([message(n) for n in range(start, start + 50)])
            await asyncio.sleep(0)

    async def drain() -> None:
        while len(delivered) < total:
            batch = await outbox.peek(64)
            delivered.extend(s.message.message_id for s in batch)
            assert await outbox.ack_many(s.seq for s in batch) == len(batch)
            await asyncio.sleep(0)

    async with asyncio.timeout(30), asyncio.TaskGroup() as tasks:
        tasks.create_task(produce())
        tasks.create_task(drain())

    assert delivered == [f"telemetry-{n}" for n in range(total)]
    assert outbox.depth() == 0


async def test_rejects_invalid_arguments(path: Path, outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="qos"):
        await outbox.put(Message("t", b"", 3, False, Kind.ALARM, "bad-qos", T0))
    with pytest.raises(ValueError, match="max_messages"):
        async with Outbox.open(path, max_messages=0, max_age_s=1.0):
            pass
    assert outbox.depth() == 0


async def test_cancelled_put_still_commits_and_keeps_depth_true(outbox: Outbox) -> None:
    put = asyncio.create_task(outbox.put_many([message(n) for n in range(2500)]))
    await asyncio.sleep(0)  # let the put reach SQLite, then cancel its caller
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put

    # The shielded transaction finished; the next operation queues behind it.
    stored = await outbox.peek(3000)
    assert len(stored) == outbox.depth() == 2500
    seq = await outbox.put(message(9999))
    assert seq > stored[-1].seq
