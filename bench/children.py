"""The benchmark's child processes: started in their own sessions, always stopped.

Children get their own session so that a Ctrl-C in the terminal reaches only the
benchmark, which then stops them in order (subscriber, gateway, devices) instead of
all of them dying at once mid-measurement. `ChildProcesses.aclose` is the one place that
ends them: SIGTERM, a bounded wait, then SIGKILL; `kill_all` is the synchronous last
resort for an interpreter that is going down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)

STOP_GRACE_S = 5.0
_STDOUT_LIMIT = 64 * 1024 * 1024  # one JSON line can hold a whole read of 2,000 nodes


class ChildExited(RuntimeError):
    """A child ended while the benchmark still needed it."""


class Child:
    """One child process; its stderr goes to a log file, stdout to `on_line` (if given)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path,
                 log_file: TextIO, leaves_on_eof: bool) -> None:
        self.name = name
        self.leaves_on_eof = leaves_on_eof
        self.process = process
        self.log_path = log_path
        self._log_file = log_file
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def check_running(self) -> None:
        """Raise ChildExited (with the end of its log) if the child has ended."""
        if not self.running:
            raise ChildExited(f"{self.name} exited with {self.process.returncode}; "
                              f"last lines of {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        self._log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line to the child's stdin."""
        if self.process.stdin is None:
            raise RuntimeError(f"{self.name} has no stdin")
        self.process.stdin.write((json.dumps(message) + "\n").encode())

    def watch(self, stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
        """Feed every line of `stream` to `on_line` until it closes."""

        async def pump() -> None:
            while line := await stream.readline():
                on_line(line.decode(errors="replace").rstrip("\n"))

        self._tasks.append(asyncio.create_task(pump(), name=f"{self.name}-reader"))

    async def stop(self) -> None:
        """Close stdin (EOF asks some children to leave), then SIGTERM, then SIGKILL."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        if self.leaves_on_eof:
            await self._wait(STOP_GRACE_S)
        if self.running:
            self._signal(signal.SIGTERM)
            await self._wait(STOP_GRACE_S)
        if self.running:
            logger.warning("%s (pid %d) did not stop within %.0f s of SIGTERM; killing it",
                           self.name, self.pid, STOP_GRACE_S)
            self._signal(signal.SIGKILL)
            await self.process.wait()
        # A wrapper may have ended on SIGTERM before what it started did.
        self._signal(signal.SIGKILL)
        # Drain what the child wrote last (its readers end at EOF), but not forever.
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._log_file.close()

    async def _wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout_s)

    def _signal(self, signum: int) -> None:
        # The whole process group (the child leads its own session): a wrapper such as
        # `py-spy record -- python -m gateway` or a gc-timing shim would otherwise die
        # alone and leave the gateway polling, holding the pipes open after the bench.
        with contextlib.suppress(ProcessLookupError):  # it ended since we looked
            os.killpg(self.pid, signum)


class ChildProcesses:
    """Every child the benchmark started; `aclose` stops them newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []

    async def start(self, name: str, argv: Sequence[str], *, cwd: Path | None = None,
                    on_stdout: Callable[[str], None] | None = None,
                    on_stderr: Callable[[str], None] | None = None,
                    leaves_on_eof: bool = False) -> Child:
        """Start `argv`; stdout lines go to `on_stdout`, stderr to the log (and `on_stderr`)."""
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("w", encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, start_new_session=True, limit=_STDOUT_LIMIT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if on_stdout else log_file,
            stderr=asyncio.subprocess.PIPE if on_stderr else log_file,
        )
        child = Child(name, process, log_path, log_file, leaves_on_eof)
        self._children.append(child)
        logger.debug("started %s (pid %d): %s", name, process.pid, " ".join(argv))
        if on_stdout is not None and process.stdout is not None:
            child.watch(process.stdout, on_stdout)
        if on_stderr is not None and process.stderr is not None:
            def to_log_and(line: str, forward: Callable[[str], None] = on_stderr) -> None:
                log_file.write(line + "\n")
                forward(line)
            child.watch(process.stderr, to_log_and)
        return child

    async def aclose(self) -> None:
        """Stop every child, newest first, each within a bounded time."""
        while self._children:
            await self._children.pop().stop()

    def kill_all(self) -> None:
        """SIGKILL whatever `aclose` did not stop; works after the event loop is gone."""
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(child.pid, signal.SIGKILL)
        self._children.clear()


def end_on_signals() -> None:
    """SIGTERM and SIGHUP end the running task as Ctrl-C does (it is cancelled, cleanup
    runs); SIGHUP only when not ignored, so that a run started with `nohup` outlives its
    terminal."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("end_on_signals() needs a running task")
    loop = asyncio.get_running_loop()
    hangup = () if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN else (signal.SIGHUP,)
    for signum in (signal.SIGTERM, *hangup):
        loop.add_signal_handler(signum, task.cancel)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark that starts the gateway takes."""
    parser.add_argument("--gateway-command", default=f"{shlex.quote(sys.executable)} -m gateway",
                        help='how to start the gateway ("run -c FILE" is appended)')
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the work folder (config, logs) even after a good run")
    parser.add_argument("--log-level", default="INFO", help="the benchmark's own log level")


def exit_code_of(bench: Coroutine[Any, Any, int], cleanup: Callable[[bool], None]) -> int:
    """Run a benchmark to its exit code: its own, 130 when interrupted, 2 when it failed.

    `cleanup(finished)` always runs, with whether the benchmark ran to its end.
    """
    finished = False
    try:
        code = asyncio.run(bench)
        finished = True
        return code
    except (KeyboardInterrupt, asyncio.CancelledError):
        logger.warning("interrupted")
        return 130
    except (ChildExited, TimeoutError, RuntimeError) as exc:
        logger.error("benchmark failed: %s", exc)
        return 2
    finally:
        cleanup(finished)
