"""An edge node on its own (no poll loops, no OPC UA), fed samples, statuses and scores by
the test, on a real broker with a real outbox file; for the session tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.storage import StorageHealth
from gateway.sparkplug.edge import edge_node
from gateway.sparkplug.node import SparkplugNode
from tests.fixtures.modbus import wait_until
from tests.gateway.sparkplug.support import EDGE, GROUP

TAGS = [
    {"name": "level", "table": "holding", "address": 0, "type": "uint16"},
    {"name": "temperature", "table": "holding", "address": 1, "type": "float32",
     "unit": "°C"},
]


def config_for(url: str, data_dir: Path, tags: list[dict[str, Any]] | None = None,
               **sparkplug: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": EDGE, "data_dir": str(data_dir)},
        "devices": [{"name": "tank", "url": "modbus-tcp://127.0.0.1:1502",
                     "tags": TAGS if tags is None else tags}],
        "assets": [{"name": "pump1", "anomaly": "pump.onnx", "rul": "pump_rul.onnx",
                    "inputs": {"level": "tank.level"}}],
        "sparkplug": {"group_id": GROUP, "broker": {"url": url}, **sparkplug},
    })


async def refuse_writes(key: str, value: Value) -> None:
    raise AssertionError(f"no write expected ({key} = {value!r})")


@asynccontextmanager
async def edge(
    url: str, data_dir: Path, *, tags: list[dict[str, Any]] | None = None,
    running: Callable[[], GatewayConfig] | None = None, **sparkplug: Any,
) -> AsyncIterator[SparkplugNode]:
    """The edge node running until the block ends; it must stop cleanly. `running` plays
    the device editor's running configuration."""
    config = config_for(url, data_dir, tags, **sparkplug)
    async with edge_node(config, refuse_writes, StorageHealth(data_dir), running=running,
                         reconnect_max_s=1) as node:
        task = asyncio.create_task(node.run(), name="edge-node")
        try:
            yield node
        finally:
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled():
                task.result()


def level(value: int, quality: Quality = Quality.GOOD) -> list[Sample]:
    return [Sample("tank.level", value, quality, datetime.now(UTC))]


async def stored(node: SparkplugNode, value: int, *, count: int) -> None:
    """Feed a tank.level sample while the session is down; wait until the outbox holds
    `count` messages."""
    node.samples(level(value))
    await wait_until(lambda: node.stats.stored == count, 10.0, f"{count} messages stored")
