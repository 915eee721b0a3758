"""Run the gateway with the event loop's CPU time accounted per callback, to see where a
benchmark's CPU goes.

    python bench/poll.py --scenario B --duration 65 --keep-files \
        --gateway-command ".venv/bin/python bench/loop_cpu.py"
    # then, in the kept folder's gateway.log: the table, every 30 s (LOOP_CPU_EVERY_S)

Every callback the loop runs (a task's step, a protocol's `data_received`, a timer) is
timed with `time.thread_time()` (the loop thread's CPU time, so a preemption by another
process on a busy machine is not counted) and charged to its name: a task's step to its
coroutine (`task:DevicePoller.run`), anything else to its callable. The table gives, per
name, the share of one core, the calls per second and the CPU per call, after a line with
the loop thread's total and the whole process's (other threads: the history's SQLite
connection, executors).

Why not a sampling profiler alone: py-spy charges a thread that is runnable but not
running to the line it stopped on, and on this 2-core machine the loop often waits for a
core in `socket.send` (a loopback send wakes the receiving device process, which may run
first). bench/README.md's 2026-12-07 figures had ~3 points of a core in `send`, and 15-20
by that count in a later run, while /proc/<pid>/stat showed 2.7 % of a core of system time
in all. Accounting thread CPU per callback has no such bias; it costs ~1 us per callback.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from typing import Any

from gateway.__main__ import main

logger = logging.getLogger("bench.loop_cpu")

_EVERY_S = float(os.environ.get("LOOP_CPU_EVERY_S", "30"))
_ROWS = 25


class LoopCpu:
    """Thread CPU per callback name, since the last report."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def charge(self, name: str, seconds: float) -> None:
        with self.lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        with self.lock:
            seconds, calls = dict(self.seconds), dict(self.calls)
            self.seconds.clear()
            self.calls.clear()
        return seconds, calls


def callback_name(handle: asyncio.Handle) -> str:
    callback: Any = handle._callback  # noqa: SLF001 - what the loop is about to run
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        return "task:" + getattr(coroutine, "__qualname__", type(coroutine).__name__)
    if isinstance(owner, asyncio.Future):
        return "future callback"
    function = getattr(callback, "func", callback)  # functools.partial
    return "call:" + getattr(function, "__qualname__", type(function).__name__)


def install(accounts: LoopCpu) -> None:
    """Time every Handle the loop runs (timers are Handles too)."""
    run = asyncio.events.Handle._run  # noqa: SLF001
    clock = time.thread_time

    def timed_run(handle: asyncio.Handle) -> None:
        started = clock()
        try:
            run(handle)
        finally:
            accounts.charge(callback_name(handle), clock() - started)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]  # noqa: SLF001


def report_forever(accounts: LoopCpu, every_s: float) -> None:
    since, process_since = time.monotonic(), time.process_time()
    while True:
        time.sleep(every_s)
        now, process_now = time.monotonic(), time.process_time()
        seconds, calls = accounts.take()
        window = now - since
        lines = [
            f"callbacks {100 * sum(seconds.values()) / window:.1f} % of a core, "
            f"whole process {100 * (process_now - process_since) / window:.1f} %, "
            f"over {window:.0f} s"
        ]
        for name, spent in sorted(seconds.items(), key=lambda item: -item[1])[:_ROWS]:
            count = calls[name]
            lines.append(
                f"{100 * spent / window:6.2f} %  {count / window:8.0f} /s  "
                f"{1e6 * spent / count:7.1f} us  {name}"
            )
        logger.warning("event loop CPU per callback:\n%s", "\n".join(lines))
        since, process_since = now, process_now


if __name__ == "__main__":
    loop_cpu = LoopCpu()
    install(loop_cpu)
    threading.Thread(
        target=report_forever, args=(loop_cpu, _EVERY_S), name="loop-cpu", daemon=True
    ).start()
    sys.exit(main(sys.argv[1:]))
