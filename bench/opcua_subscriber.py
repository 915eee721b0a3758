"""Drives `subscriber/subscribe.js` (node-opcua) and collects what it reports."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from children import Child, ChildProcesses

logger = logging.getLogger(__name__)

SUBSCRIBER_DIR = Path(__file__).resolve().parent / "subscriber"
NPM_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class SubscriberSettings:
    """What subscribe.js is told; see the header of that script."""

    endpoint: str
    namespace_uri: str
    nodes: list[str]
    publishing_interval_ms: float
    setup_timeout_s: float
    queue_size: int = 1
    sampling_interval_ms: float = 0.0  # 0: report every change as it is written
    batch_size: int = 1000
    latency_samples_per_tick: int = 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "namespaceUri": self.namespace_uri,
            "nodes": self.nodes,
            "publishingIntervalMs": self.publishing_interval_ms,
            "setupTimeoutMs": self.setup_timeout_s * 1000.0,
            "queueSize": self.queue_size,
            "samplingIntervalMs": self.sampling_interval_ms,
            "batchSize": self.batch_size,
            "latencySamplesPerTick": self.latency_samples_per_tick,
        }


@dataclass(frozen=True)
class Tick:
    """One second of notifications as the subscriber saw them."""

    t: float  # wall clock, s
    dt: float  # s since the previous tick
    count: int
    bad: int
    latencies_ms: list[float]


def ensure_installed() -> None:
    """Install node-opcua into subscriber/node_modules with npm if it is not there."""
    if (SUBSCRIBER_DIR / "node_modules" / "node-opcua-client").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed for the OPC UA subscriber (Node >= 20)")
    command = "ci" if (SUBSCRIBER_DIR / "package-lock.json").exists() else "install"
    logger.info("installing node-opcua-client into %s (npm %s)", SUBSCRIBER_DIR, command)
    # npm's report goes to stderr: stdout carries only the figures.
    subprocess.run([npm, command, "--no-audit", "--no-fund"], cwd=SUBSCRIBER_DIR,
                   check=True, timeout=NPM_TIMEOUT_S, stdout=sys.stderr)


class Subscriber:
    """The node-opcua subscriber child: events are awaited, ticks accumulate."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        # Events wait here by kind until expected: they may arrive in any order (the
        # last values can beat the last "monitored" event).
        self._events: defaultdict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._arrived = asyncio.Event()
        self._child: Child | None = None
        self._next_read_id = 0

    async def start(self, children: ChildProcesses, settings: SubscriberSettings,
                    work_dir: Path, timeout_s: float) -> None:
        """Start node and wait until its modules are loaded (not counted in any figure)."""
        settings_path = work_dir / "subscriber.json"
        settings_path.write_text(json.dumps(settings.as_json()), encoding="utf-8")
        self._child = await children.start(
            "subscriber", ["node", str(SUBSCRIBER_DIR / "subscribe.js"), str(settings_path)],
            cwd=SUBSCRIBER_DIR, on_stdout=self._on_line, leaves_on_eof=True)
        await self.expect("ready", timeout_s)

    @property
    def child(self) -> Child:
        if self._child is None:
            raise RuntimeError("the subscriber is not started")
        return self._child

    def go(self) -> None:
        """Connect and subscribe now."""
        self.child.send({"cmd": "go"})

    async def expect(self, kind: str, timeout_s: float) -> dict[str, Any]:
        """The oldest unclaimed event of `kind`, waiting for it; bounded in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._events["error"]:
                raise RuntimeError(f"subscriber failed: {self._events['error'][0]['message']}")
            if self._events[kind]:
                return self._events[kind].popleft()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"subscriber: no {kind!r} within {timeout_s:.0f} s; "
                                   f"log:\n{self.child.log_tail()}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 1.0))
            except TimeoutError:
                self.child.check_running()

    async def read(self, nodes: list[str], timeout_s: float) -> list[dict[str, Any]]:
        """Values and status names of `nodes` (string NodeIds in the bench namespace)."""
        self._next_read_id += 1
        self.child.send({"cmd": "read", "id": self._next_read_id, "nodes": nodes})
        event = await self.expect("read", timeout_s)
        if event["id"] != self._next_read_id:
            raise RuntimeError(f"subscriber answered read {event['id']}, "
                               f"expected {self._next_read_id}")
        values: list[dict[str, Any]] = event["values"]
        return values

    async def quit(self, timeout_s: float) -> None:
        """Close the session cleanly (the child exits after)."""
        if self._child is not None and self._child.running:
            self._child.send({"cmd": "quit"})
            try:
                await self.expect("closed", timeout_s)
            except (TimeoutError, RuntimeError) as exc:
                logger.warning("subscriber did not close cleanly: %s", exc)

    def _on_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            logger.debug("subscriber stdout: %s", line)
            return
        if event.get("type") == "tick":
            self.ticks.append(Tick(event["t"] / 1000.0, event["dt"] / 1000.0, event["n"],
                                   event["bad"], event["lat"]))
        else:
            self._events[event["type"]].append(event)
            self._arrived.set()
