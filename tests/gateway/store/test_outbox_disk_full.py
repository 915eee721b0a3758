"""The outbox on a full disk (issue #17), on a real full filesystem (tests/fixtures/disk.py).

Telemetry is refused first, then state; alarms wait in memory, in order, and are numbered
when they are written, so the numbers MES sees are gap-free, or show an honest gap where
alarms really were dropped. Deletions that fail are done later without sending twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from gateway.core.storage import StorageHealth
from gateway.notify.problems import ENGLISH, storage_lines
from gateway.store import DropReason, Kind, Message, MessageRefused, Outbox
from tests.fixtures.disk import SmallDisk


def alarm(name: str) -> Callable[[int], Message]:
    """A builder: the alarm message carrying the number it is given."""
    return lambda n: Message(
        f"uvelka/gw1/alarms/{name}", b"%d" % n, 1, False, Kind.ALARM, f"{name}-{n}", 0.0
    )


def message(name: str, kind: Kind) -> Message:
    return Message(f"uvelka/gw1/{kind.value}/{name}", b"{}", 1, kind is Kind.STATE, kind,
                   name, 0.0)


async def numbered(outbox: Outbox) -> list[tuple[str, bytes]]:
    """The queued alarms' ids and payloads (their numbers), oldest first."""
    return [(s.message.message_id, s.message.payload) for s in await outbox.peek(10_000)
            if s.message.kind is Kind.ALARM]


def opened(
    path: Path, health: StorageHealth, max_messages: int = 1000
) -> AbstractAsyncContextManager[Outbox]:
    return Outbox.open(path, max_messages=max_messages, max_age_s=3600.0,
                       telemetry_min_free_bytes=256 * 1024, health=health)


async def test_telemetry_then_state_give_way_and_alarms_wait_in_memory(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    async with opened(small_disk.path / "outbox.sqlite", health) as outbox:
        assert await outbox.put_sequenced([alarm("a")]) == [1]
        await outbox.put(message("t0", Kind.TELEMETRY))

        # Little space left: telemetry is refused, state and alarms still go to disk.
        small_disk.fill(leave_bytes=128 * 1024)
        with pytest.raises(MessageRefused, match="telemetry needs"):
            await outbox.put(message("t1", Kind.TELEMETRY))
        await outbox.put(message("s1", Kind.STATE))
        assert await outbox.put_sequenced([alarm("b")]) == [2]

        # No space: the alarms wait in memory; a state would take their place, refused.
        small_disk.fill()
        padding = [alarm(f"pad{i}") for i in range(50)]  # more than the WAL's last page
        assert await outbox.put_sequenced(padding) == []
        assert await outbox.put_sequenced([alarm("c")]) == []
        with pytest.raises(MessageRefused, match="alarms wait in memory"):
            await outbox.put(message("s2", Kind.STATE))
        assert outbox.held() == 51
        assert outbox.depth() == 4 + 51
        assert outbox.dropped() == {(Kind.TELEMETRY, DropReason.DISK_FULL): 1,
                                    (Kind.STATE, DropReason.DISK_FULL): 1}
        assert "outbox" in health.problems()
        assert health.disk_full
        assert await outbox.retry() == 0  # still full

        small_disk.free()
        assert await outbox.put_sequenced([alarm("d")]) == [54]
        assert outbox.held() == 0
        assert "outbox" not in health.problems()
        queued = await numbered(outbox)
        assert [payload for _, payload in queued] == [b"%d" % n for n in range(1, 55)]
        assert [name for name, _ in queued][-2:] == ["c-53", "d-54"]


async def test_alarms_beyond_the_bound_are_dropped_with_an_honest_gap(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    async with opened(small_disk.path / "outbox.sqlite", health, max_messages=3) as outbox:
        assert await outbox.put_sequenced([alarm("a")]) == [1]
        assert await outbox.ack_many(s.seq for s in await outbox.peek(1)) == 1  # delivered
        small_disk.fill()
        for name in ("b", "c", "d", "e", "f"):
            await outbox.put_sequenced([alarm(name)])
        assert outbox.held() == 3  # b and c dropped from memory
        assert outbox.dropped() == {(Kind.ALARM, DropReason.DISK_FULL): 2}

        small_disk.free()
        assert await outbox.retry() == 3
        # 2 and 3 were b and c: MES sees the gap where alarms really were lost.
        assert await numbered(outbox) == [("d-4", b"4"), ("e-5", b"5"), ("f-6", b"6")]


async def test_deletions_that_fail_are_done_later_and_nothing_is_sent_twice(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    async with opened(small_disk.path / "outbox.sqlite", health) as outbox:
        await outbox.put_sequenced([alarm(f"a{i}") for i in range(200)])
        sent = await outbox.peek(100)
        small_disk.fill()
        # Deleting rows appends to the WAL: on a full disk that fails, until space returns.
        deleted = 0
        for stored in sent:
            deleted += await outbox.ack_many([stored.seq])
        assert deleted < len(sent)
        assert "outbox" in health.problems()
        rest = await outbox.peek(1000)
        assert [s.seq for s in rest] == [s.seq for s in (await outbox.peek(1000))]
        assert rest[0].seq == sent[-1].seq + 1  # the delivered ones are not read again

        small_disk.free()
        await outbox.retry()
        assert outbox.depth() == 100
        assert not outbox.waiting()
        assert "outbox" not in health.problems()


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "new-file"])
async def test_a_file_that_cannot_be_opened_is_opened_once_space_returns(
    small_disk: SmallDisk, existing: bool
) -> None:
    path = small_disk.path / "data" / "outbox.sqlite"
    health = StorageHealth(small_disk.path)
    if existing:
        async with opened(path, health) as outbox:
            assert await outbox.put_sequenced([alarm("a"), alarm("b")]) == [1, 2]
    small_disk.fill()
    async with opened(path, health) as outbox:
        # A WAL file cannot even be read on a full disk (SQLITE_IOERR_SHMSIZE).
        assert outbox.waiting()
        assert await outbox.peek(10) == []
        assert await outbox.put_sequenced([alarm("c")]) == []
        with pytest.raises(MessageRefused, match="cannot be opened"):
            await outbox.put(message("s", Kind.STATE))
        assert storage_lines(ENGLISH, health, outbox.held()) == [
            f"disk full under {small_disk.path}: outbox holding 1 alarm in memory"]

        small_disk.free()
        assert await outbox.retry() == 1
        assert not outbox.waiting()
        first = 3 if existing else 1
        assert (await numbered(outbox))[-1] == (f"c-{first}", b"%d" % first)
        assert health.problems() == {}
