"""The bridge in a child process killed with SIGKILL: the Last Will, and the outbox on disk."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.fixtures.mqtt import MosquittoFactory, SubscriberFactory
from tests.fixtures.process import child
from tests.gateway.mqtt.support import topic

BRIDGE = "tests.gateway.mqtt.bridge_process"


async def test_last_will_offline_after_sigkill(
    mosquitto_factory: MosquittoFactory, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    broker = await mosquitto_factory()
    watcher = await subscribers(broker, topic("status"))
    async with child(BRIDGE, broker.url, str(tmp_path / "outbox.db")) as bridge:
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
    async with child(BRIDGE, broker.url, str(path)) as first:
        for name in names:
            await first.ask(f"alarm {name}", "queued")
        assert await first.end(signal.SIGKILL) == -signal.SIGKILL

    await broker.start()
    watcher = await subscribers(broker, topic("alarms/+"))
    async with child(BRIDGE, broker.url, str(path)) as second:
        ids: dict[int, str] = {}
        while len(ids) < len(names):
            payload = json.loads((await watcher.get()).payload)
            assert ids.setdefault(payload["seq"], payload["id"]) == payload["id"]
            assert payload["alarm"] == names[payload["seq"] - 1]
        assert await second.end(signal.SIGTERM) == 0

    assert sorted(ids) == list(range(1, len(names) + 1))
