"""Alarm numbering in the outbox: one counter per file, advanced in the insert's transaction."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from gateway.store import DuplicateMessage, Kind, Message, Outbox

REPO = Path(__file__).resolve().parents[3]


def alarm(name: str) -> Callable[[int], Message]:
    """A builder: the alarm message carrying the number it is given."""
    return lambda n: Message(
        f"uvelka/gw1/alarms/{name}", b"%d" % n, 1, False, Kind.ALARM, f"{name}-{n}", 0.0
    )


def failing(n: int) -> Message:
    raise RuntimeError(f"cannot build message {n}")


def opened(path: Path, max_messages: int = 1000) -> AbstractAsyncContextManager[Outbox]:
    return Outbox.open(path, max_messages=max_messages, max_age_s=60.0)


async def queued(outbox: Outbox) -> list[tuple[str, bytes]]:
    return [(s.message.message_id, s.message.payload) for s in await outbox.peek(10_000)]


async def test_numbers_start_at_one_and_go_up_by_one(tmp_path: Path) -> None:
    async with opened(tmp_path / "outbox.db") as outbox:
        assert await outbox.put_sequenced([alarm("a"), alarm("b")]) == [1, 2]
        assert await outbox.put_sequenced([alarm("c")]) == [3]
        assert await outbox.put_sequenced([]) == []
        # put_many does not number and does not consume numbers.
        await outbox.put(alarm("plain")(0))
        assert await outbox.put_sequenced([alarm("d")]) == [4]

        assert await queued(outbox) == [
            ("a-1", b"1"),
            ("b-2", b"2"),
            ("c-3", b"3"),
            ("plain-0", b"0"),
            ("d-4", b"4"),
        ]


async def test_numbers_continue_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with opened(path) as outbox:
        await outbox.put_sequenced([alarm("a"), alarm("b"), alarm("c")])
        # Delivered and deleted: the numbers are still taken.
        await outbox.ack_many(s.seq for s in await outbox.peek(10))

    async with opened(path) as outbox:
        assert outbox.depth() == 0
        assert await outbox.put_sequenced([alarm("d")]) == [4]


async def test_failed_builder_rolls_back_without_consuming_numbers(tmp_path: Path) -> None:
    async with opened(tmp_path / "outbox.db") as outbox:
        await outbox.put_sequenced([alarm("a")])

        with pytest.raises(RuntimeError, match="cannot build message 3"):
            await outbox.put_sequenced([alarm("b"), failing])

        assert await queued(outbox) == [("a-1", b"1")]
        assert outbox.depth() == 1
        assert await outbox.put_sequenced([alarm("c")]) == [2]


async def test_duplicate_id_rolls_back_without_consuming_numbers(tmp_path: Path) -> None:
    def same_id(n: int) -> Message:
        return Message("uvelka/gw1/alarms/x", b"%d" % n, 1, False, Kind.ALARM, "fixed-id", 0.0)

    async with opened(tmp_path / "outbox.db") as outbox:
        with pytest.raises(DuplicateMessage):
            await outbox.put_sequenced([alarm("a"), same_id, same_id])

        assert await queued(outbox) == []
        assert await outbox.put_sequenced([alarm("b")]) == [1]


async def test_concurrent_puts_share_one_gapless_sequence(tmp_path: Path) -> None:
    async with opened(tmp_path / "outbox.db") as outbox:
        batches = await asyncio.gather(
            *(outbox.put_sequenced([alarm(f"t{t}x{i}") for i in range(5)]) for t in range(20))
        )
        numbers = [n for batch in batches for n in batch]
        assert sorted(numbers) == list(range(1, 101))
        for batch in batches:
            assert batch == list(range(batch[0], batch[0] + 5))
        # Queue order is number order: numbering and insert are one transaction.
        payloads = [int(payload) for _, payload in await queued(outbox)]
        assert payloads == list(range(1, 101))


async def test_eviction_on_overflow_keeps_the_numbering(tmp_path: Path) -> None:
    async with opened(tmp_path / "outbox.db", max_messages=3) as outbox:
        assert await outbox.put_sequenced([alarm(f"a{i}") for i in range(5)]) == [1, 2, 3, 4, 5]
        # The two oldest alarms are gone: the gap 1..2 is what a receiver will notice.
        assert [int(p) for _, p in await queued(outbox)] == [3, 4, 5]
        assert await outbox.put_sequenced([alarm("b")]) == [6]


async def test_peek_after_skips_what_was_handed_over(tmp_path: Path) -> None:
    async with opened(tmp_path / "outbox.db") as outbox:
        await outbox.put_sequenced([alarm(f"a{i}") for i in range(6)])
        first = await outbox.peek(4)
        rest = await outbox.peek(10, after=first[-1].seq)

        assert [s.message.message_id for s in first + rest] == [f"a{i}-{i + 1}" for i in range(6)]
        assert await outbox.peek(10, after=rest[-1].seq) == []


# Puts numbered alarms in single puts and batches, reporting the last committed number.
WRITER = """
import asyncio, sys
from gateway.store import Kind, Message, Outbox

def alarm(n):
    return Message("uvelka/gw1/alarms/a", b"%d" % n, 1, False, Kind.ALARM, f"alarm-{n}", 0.0)

async def main(path):
    async with Outbox.open(path, max_messages=1_000_000, max_age_s=60.0) as outbox:
        n = 0
        while True:
            numbers = await outbox.put_sequenced([alarm] * (1 if n % 2 else 25))
            n += 1
            print(numbers[-1], flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_sigkill_leaves_no_gap_and_reuses_no_number(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    committed = 0
    async with asyncio.timeout(30):
        while committed < 1000:
            line = await child.stdout.readline()
            assert line, f"writer ended early with code {await child.wait()}"
            committed = int(line)
    child.send_signal(signal.SIGKILL)
    await child.communicate()

    async with opened(path) as outbox:
        numbers = [int(payload) for _, payload in await queued(outbox)]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) >= committed
        assert await outbox.put_sequenced([alarm("after")]) == [len(numbers) + 1]
