"""Data stored while the primary host is offline survives a SIGKILL of the gateway and is
replayed, in order and historical, by the next process once the host is back; the killed
node's Will is its NDEATH, and the next process's bdSeq follows it."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.fixtures.mqtt import Mosquitto, Subscriber
from tests.gateway.sparkplug.support import WAIT_S, Watcher, host_state, topic

REPO = Path(__file__).resolve().parents[3]


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT_S):
            got = await self.process.stdout.readline()
        assert got.decode().strip() == line

    async def level(self, value: int, stored: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"level {value}\n".encode())
        await self.process.stdin.drain()
        await self.expect(f"stored {stored}")


@asynccontextmanager
async def child(url: str, data_dir: Path) -> AsyncIterator[Child]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.gateway.sparkplug.node_process", url, str(data_dir),
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        started = Child(process)
        await started.expect("started")
        yield started
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_stored_data_survives_sigkill_and_is_replayed_in_order(
    mosquitto: Mosquitto, host_away: tuple[Watcher, Subscriber], tmp_path: Path
) -> None:
    scada, host = host_away
    async with child(mosquitto.url, tmp_path) as first:
        for n, value in enumerate(range(100, 105), start=1):
            await first.level(value, stored=n)
        first.process.send_signal(signal.SIGKILL)
        async with asyncio.timeout(WAIT_S):
            assert await first.process.wait() == -signal.SIGKILL
    # tck-id-payloads-ndeath-will-message: the broker publishes the Will of the killed node
    ndeath, before = await scada.until("NDEATH")
    assert before == []  # nothing was born while the host was offline
    assert ndeath.metric("bdSeq")["value"] == "0"

    async with child(mosquitto.url, tmp_path):
        assert await scada.quiet(1.0) == []  # still waiting for the host
        await host_state(host, online=True)
        nbirth, _ = await scada.until("NBIRTH")
        # tck-id-topics-nbirth-bdseq-increment across the restart: the killed process's
        # CONNECT (its Will) was bdSeq 0, this one's is 1 (saved under data_dir).
        assert nbirth.metric("bdSeq")["value"] == "1"
        await scada.until("DBIRTH", "asset-pump1")
        replayed = await scada.many(5)
    assert [s.topic for s in replayed] == [topic("DDATA", "tank")] * 5
    assert [s.payload["metrics"][0]["value"] for s in replayed] == [100, 101, 102, 103, 104]
    assert all(s.payload["metrics"][0]["isHistorical"] is True for s in replayed)
    assert [s.seq for s in replayed] == [3, 4, 5, 6, 7]
