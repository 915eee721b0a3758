"""A bridge in a child process, for tests that kill it with SIGKILL (not collected: no test_).

    python -m tests.gateway.mqtt.bridge_process URL OUTBOX_PATH

Prints "started" once the bridge runs. Reads stdin, one command a line: "alarm <name>"
queues an alarm event and prints "queued" once the outbox committed it. SIGTERM stops the
bridge cleanly (exit 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from tests.gateway.mqtt.support import event, opened, running, settings


async def main(url: str, path: Path) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with opened(path) as outbox, running(settings(url), outbox) as bridge:
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        print("started", flush=True)
        count = 0
        while line := await reader.readline():
            command, name = line.decode().split()
            assert command == "alarm", command
            await bridge.publish_alarms([event(name, count)])
            count += 1
            print("queued", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="child %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
    except asyncio.CancelledError:
        sys.exit(0)
