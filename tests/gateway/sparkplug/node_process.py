"""An edge node in a child process, for the test that kills it with SIGKILL (not collected).

    python -m tests.gateway.sparkplug.node_process BROKER_URL DATA_DIR

Waits for the primary host "scada". Prints "started" once the node runs; reads stdin, one
command a line: "level <n>" feeds a tank.level sample and prints "stored <count>" once the
outbox holds that many messages. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from pathlib import Path

from gateway.sparkplug.node import SparkplugNode
from tests.fixtures.modbus import wait_until
from tests.gateway.sparkplug.harness import edge, level
from tests.gateway.sparkplug.support import HOST


def _holds(node: SparkplugNode, count: int) -> bool:
    return node.stats.stored == count


async def main(url: str, data_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with edge(url, data_dir, primary_host_id=HOST) as node:
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        print("started", flush=True)
        fed = 0
        while line := await reader.readline():
            command, value = line.decode().split()
            assert command == "level", command
            node.samples(level(int(value)))
            fed += 1
            await wait_until(functools.partial(_holds, node, fed), 10.0, "the sample stored")
            print(f"stored {fed}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="child %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
    except asyncio.CancelledError:
        sys.exit(0)
