"""A process killed with SIGKILL loses no message whose put had returned (issue #4)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from gateway.store import Kind, Outbox

REPO = Path(__file__).resolve().parents[3]

# Alternates single puts and batches, reporting the last committed number after each.
# created_s = 0.0 is ancient: alarms must survive it, since they never expire by default.
WRITER = """
import asyncio, sys
from gateway.store import Kind, Message, Outbox

def alarm(n):
    return Message(f"uvelka/gw1/alarms/a{n}", b"%d" % n, 1, False, Kind.ALARM, f"alarm-{n}", 0.0)

async def main(path):
    async with Outbox.open(path, max_messages=1_000_000, max_age_s=60.0) as outbox:
        n = 0
        while True:
            size = 1 if n % 2 else 25
            await outbox.put_many([alarm(i) for i in range(n, n + size)])
            n += size
            print(n - 1, flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_sigkill_after_commits_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    committed = -1
    async with asyncio.timeout(30):
        while committed < 2000:
            line = await child.stdout.readline()
            assert line, f"writer ended early with code {await child.wait()}"
            committed = int(line)
    # Killed while still writing: a transaction may be half-way through the WAL.
    child.send_signal(signal.SIGKILL)
    await child.communicate()
    assert child.returncode == -signal.SIGKILL

    async with Outbox.open(path, max_messages=1_000_000, max_age_s=60.0) as outbox:
        stored = await outbox.peek(1_000_000)
        assert outbox.depth() == len(stored)
    # Everything reported is there, in order; beyond it only whole later commits.
    assert len(stored) > committed
    assert [s.message.message_id for s in stored] == [f"alarm-{n}" for n in range(len(stored))]
    assert [s.seq for s in stored] == sorted(s.seq for s in stored)
    assert {s.message.kind for s in stored} == {Kind.ALARM}
    assert stored[committed].message.payload == b"%d" % committed
