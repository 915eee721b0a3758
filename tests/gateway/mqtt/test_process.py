"""The bridge in a child process killed with SIGKILL: the Last Will, and the outbox on disk."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.fixtures.mqtt import MosquittoFactory, SubscriberFactory
from tests.gateway.mqtt.support import WAIT_S, topic

REPO = Path(__file__).resolve().parents[3]


class Child:
    """The bridge process: `tests/gateway/mqtt/bridge_process.py`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT_S):
            got = await self.process.stdout.readline()
        assert got.decode().strip() == line

    async def alarm(self, name: str) -> None:
        """Queue an alarm event; returns once it is durable in the outbox."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"alarm {name}\n".encode())
        await self.process.stdin.drain()
        await self.expect("queued")

    async def end(self, signum: signal.Signals) -> int:
        self.process.send_signal(signum)
        async with asyncio.timeout(WAIT_S):
            return await self.process.wait()


@asynccontextmanager
async def child(url: str, outbox: Path) -> AsyncIterator[Child]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.gateway.mqtt.bridge_process",
        url,
        str(outbox),
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        started = Child(process)
        await started.expect("started")
        yield started
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_last_will_offline_after_sigkill(
    mosquitto_factory: MosquittoFactory, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    broker = await mosquitto_factory()
    watcher = await subscribers(broker, topic("status"))
    async with child(broker.url, tmp_path / "outbox.db") as bridge:
        online = await watcher.get()
        assert (online.payload, online.retain) == (b"online", True)

        assert await bridge.end(signal.SIGKILL) == -signal.SIGKILL

        will = await watcher.get()
        assert (will.payload, will.retain, will.qos) == (b"offline", True, 1)


async def test_sigkill_while_broker_down_then_restart_delivers_every_alarm(
    mosquitto_factory: MosquittoFactory, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    broker = await mosquitto_factory()
    await broker.stop()
    path = tmp_path / "outbox.db"
    names = [f"alarm{n}" for n in range(60)]
    async with child(broker.url, path) as first:
        for name in names:
            await first.alarm(name)
        assert await first.end(signal.SIGKILL) == -signal.SIGKILL

    await broker.start()
    watcher = await subscribers(broker, topic("alarms/+"))
    async with child(broker.url, path) as second:
        ids: dict[int, str] = {}
        while len(ids) < len(names):
            payload = json.loads((await watcher.get()).payload)
            assert ids.setdefault(payload["seq"], payload["id"]) == payload["id"]
            assert payload["alarm"] == names[payload["seq"] - 1]
        assert await second.end(signal.SIGTERM) == 0

    assert sorted(ids) == list(range(1, len(names) + 1))
