"""An edge node in a child process, for the test that kills it with SIGKILL (not collected).

    python -m tests.gateway.sparkplug.node_process BROKER_URL DATA_DIR

Waits for the primary host "scada". Prints "started" once the node runs; reads stdin, one
command a line: "level <n>" feeds a tank.level sample and prints "stored <count>" once the
outbox holds that many messages. SIGTERM stops it cleanly. The line protocol is
tests/fixtures/process.py's.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from gateway.sparkplug.node import SparkplugNode
from tests.fixtures.modbus import wait_until
from tests.fixtures.process import run_child, serve_lines
from tests.gateway.sparkplug.harness import edge, level
from tests.gateway.sparkplug.support import HOST


def _holds(node: SparkplugNode, count: int) -> bool:
    return node.stats.stored == count


async def main(url: str, data_dir: Path) -> None:
    async with edge(url, data_dir, primary_host_id=HOST) as node:
        fed = 0

        async def feed(line: str) -> str:
            nonlocal fed
            command, value = line.split()
            assert command == "level", command
            node.samples(level(int(value)))
            fed += 1
            await wait_until(functools.partial(_holds, node, fed), 10.0, "the sample stored")
            return f"stored {fed}"

        await serve_lines(feed)


if __name__ == "__main__":
    run_child(main(sys.argv[1], Path(sys.argv[2])))
