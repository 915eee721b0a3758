"""The Sparkplug edge node's hot path: CPU per changed sample, born and live on mosquitto.

    .venv/bin/python bench/sparkplug_node.py [--devices 10] [--tags 1000] [--cycles 50]

Starts /usr/sbin/mosquitto on a free loopback port, runs the edge node (gateway/sparkplug)
for `devices` x `tags` uint16 tags, and feeds it cycles in which 10 % of the tags change, as
the poll loops would; prints the edge node's CPU per cycle and per changed sample (report by
exception, protobuf encoding and the hand-over to paho; paho's own thread not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.storage import StorageHealth
from gateway.sparkplug.edge import edge_node

MOSQUITTO = "/usr/sbin/mosquitto"


async def no_writes(key: str, value: Value) -> None:
    raise AssertionError("no writes in this bench")


async def run(devices: int, tags: int, cycles: int, data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = await asyncio.create_subprocess_exec(
        MOSQUITTO, "-p", str(port), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await _until(lambda: _accepting(port), "mosquitto to listen")
        config = GatewayConfig.model_validate({
            "gateway": {"name": "bench", "data_dir": str(data_dir)},
            "devices": [{"name": f"d{d}", "url": "modbus-tcp://127.0.0.1:1502", "tags": [
                {"name": f"t{t}", "table": "holding", "address": t, "type": "uint16"}
                for t in range(tags)]} for d in range(devices)],
            "sparkplug": {"group_id": "Bench", "broker": {"url": f"mqtt://127.0.0.1:{port}"}},
        })
        async with edge_node(config, no_writes, StorageHealth(data_dir)) as node:
            task = asyncio.create_task(node.run())
            await _until(lambda: node.stats.online and not node.stats.queued, "the births")
            cpu_s = 0.0
            for cycle in range(cycles):
                now = datetime.now(UTC)
                for d in range(devices):
                    batch = [Sample(f"d{d}.t{t}", cycle, Quality.GOOD, now)
                             for t in range(0, tags, 10)]
                    start = time.process_time()
                    node.samples(batch)
                    cpu_s += time.process_time() - start
                await asyncio.sleep(0.02)  # paho's thread writes meanwhile
            changed = cycles * devices * len(range(0, tags, 10))
            print(f"{devices} devices x {tags} tags, 10 % changing, {cycles} cycles: "
                  f"{cpu_s * 1e3 / cycles:.2f} ms of CPU a cycle, "
                  f"{cpu_s * 1e6 / changed:.1f} us a changed sample; "
                  f"{node.stats.published + node.stats.replayed} DDATA sent")
            task.cancel()
            await asyncio.wait([task])
    finally:
        broker.terminate()
        await broker.wait()


async def _until(ready: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll `ready` (counters and a port have no event to wait on)."""
    async with asyncio.timeout(timeout_s):
        while not ready():  # noqa: ASYNC110 - see the docstring
            await asyncio.sleep(0.05)


def _accepting(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(run(args.devices, args.tags, args.cycles, Path(data_dir)))


if __name__ == "__main__":
    main()
