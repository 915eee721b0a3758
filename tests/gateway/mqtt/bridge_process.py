"""A bridge in a child process, for tests that kill it with SIGKILL (not collected: no test_).

    python -m tests.gateway.mqtt.bridge_process URL OUTBOX_PATH

Prints "started" once the bridge runs. Reads stdin, one command a line: "alarm <name>"
queues an alarm event and prints "queued" once the outbox committed it. SIGTERM stops the
bridge cleanly (exit 0). The line protocol is tests/fixtures/process.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fixtures.process import run_child, serve_lines
from tests.gateway.mqtt.support import event, opened, running, settings


async def main(url: str, path: Path) -> None:
    async with opened(path) as outbox, running(settings(url), outbox) as bridge:
        count = 0

        async def alarm(line: str) -> str:
            nonlocal count
            command, name = line.split()
            assert command == "alarm", command
            await bridge.publish_alarms([event(name, count)])
            count += 1
            return "queued"

        await serve_lines(alarm)


if __name__ == "__main__":
    run_child(main(sys.argv[1], Path(sys.argv[2])))
