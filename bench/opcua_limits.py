"""The server's event loop while clients create many monitored items (issue #17).

    python bench/opcua_limits.py                                  # 1 session, 15,000 items
    python bench/opcua_limits.py --sessions 200 --items 10000     # the issue's flood
    python bench/opcua_limits.py --max-sessions 1000 --max-items 100000000 --sessions 20

gateway.opcua.OpcuaServer (one device of 100 Double tags, not polled) runs in this
process with its [opcua] limits (defaults, or --max-* ), and a ticker that sleeps 10 ms
at a time: the longest gap between two ticks is how long a device poll loop would have
waited (the loop lag). Another process runs --sessions asyncua clients at once, each
with one subscription creating --items monitored items on the device's tags in calls of
--per-call items (default: the MaxMonitoredItemsPerCall the server advertises). The
clients' own CPU is theirs, not the server's.

Printed: sessions and items accepted and refused (with the status codes), how long the
creation took, the loop lag while it ran and, as a baseline, over --idle seconds before
(max and p99 of the ticks' gaps in wall time, which a busy machine stretches, and in CPU
time of the loop's thread, the server's own work between two ticks), the cyclic
collector's full passes meanwhile (the server calls gc.freeze() once started, as the
gateway does), the server's RSS growth and its cost per item created.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from asyncua import ua

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import opcua_common as common  # noqa: E402

from gateway.config.model import GatewayConfig  # noqa: E402
from gateway.opcua import OpcuaServer  # noqa: E402

TAGS = 100
TICK_S = 0.01


# -- clients (child process) ------------------------------------------------------------


async def _session(
    url: str, ns: int, items: int, per_call: int, codes: collections.Counter[str]
) -> None:
    connected = common.client(url)
    try:
        await connected.connect()
    except ua.UaStatusCodeError as error:
        codes[f"session {type(error).__name__}"] += 1
        return
    try:
        subscription = await common.subscribe(connected, 1000.0, 600, 10, lambda _result: None)
        for run in common.in_calls(items, per_call):
            nodes = [ua.NodeId(f"d.t{i % TAGS}", ns) for i in run]
            try:
                results = await common.create_items(
                    connected, subscription, common.item_requests(nodes, run.start, queue_size=1)
                )
            except ua.UaStatusCodeError as error:
                codes[f"call {type(error).__name__}"] += 1
                continue
            codes.update(f"item {result.StatusCode.name}" for result in results)
    finally:
        await connected.disconnect()


async def _clients(url: str, ns: int, sessions: int, items: int, per_call: int) -> dict[str, int]:
    codes: collections.Counter[str] = collections.Counter()
    await asyncio.gather(*(_session(url, ns, items, per_call, codes) for _ in range(sessions)))
    return dict(codes)


def clients(conn: multiprocessing.connection.Connection, *args: Any) -> None:
    conn.send(asyncio.run(_clients(*args)))


# -- server (this process) ---------------------------------------------------------------


class FullCollections:
    """How long each of the cyclic collector's full (generation 2) passes took."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds.append(time.perf_counter() - self._started)


class LoopLag:
    """The gaps between ticks of a task that sleeps TICK_S at a time: in wall time, and in
    CPU time of the loop's thread (its own work, whatever else the machine runs)."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.work: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _tick(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(TICK_S)
            now, cpu = time.perf_counter(), time.thread_time()
            self.gaps.append(now - last)
            self.work.append(cpu - last_cpu)
            last, last_cpu = now, cpu

    def report(self, what: str) -> None:
        gaps, work = sorted(self.gaps), sorted(self.work)
        print(
            f"{what}: loop lag (gap between {TICK_S * 1000:.0f} ms ticks) max "
            f"{gaps[-1] * 1000:.0f} ms, p99 {_p99(gaps) * 1000:.0f} ms, median "
            f"{statistics.median(gaps) * 1000:.1f} ms; loop thread CPU in one gap max "
            f"{work[-1] * 1000:.0f} ms, p99 {_p99(work) * 1000:.0f} ms"
        )


def _p99(ordered: list[float]) -> float:
    return ordered[int(0.99 * (len(ordered) - 1))]


def config(args: argparse.Namespace) -> GatewayConfig:
    limits = {
        key: value
        for key, value in {
            "max_sessions": args.max_sessions,
            "max_monitored_items": args.max_items,
            "max_monitored_items_per_call": args.max_per_call,
        }.items()
        if value is not None
    }
    return common.server_config(["d"], TAGS, **limits)


async def run(args: argparse.Namespace) -> None:
    process = psutil.Process()
    full = FullCollections()
    async with OpcuaServer(config(args), common.refuse_write) as server:
        # As gateway.app does once everything is built: the standard address space is kept
        # out of the collector's full passes.
        gc.freeze()
        async with common.client(server.endpoint_url) as probe:
            per_call = args.per_call or await common.items_per_call(probe, args.items)
        idle = LoopLag()
        idle.start()
        await asyncio.sleep(args.idle)
        await idle.stop()
        rss_before = process.memory_info().rss
        parent, child = multiprocessing.Pipe()
        worker = multiprocessing.Process(
            target=clients,
            args=(child, server.endpoint_url, server.namespace_index, args.sessions, args.items,
                  per_call),
        )
        lag = LoopLag()
        lag.start()
        collections_before = len(full.seconds)
        started = time.perf_counter()
        worker.start()
        codes = await asyncio.to_thread(parent.recv)
        took = time.perf_counter() - started
        await lag.stop()
        worker.join()
        rss_after = process.memory_info().rss

    created = codes.get("item Good", 0)
    print(f"{args.sessions} sessions x {args.items} items in calls of {per_call}: {took:.1f} s")
    for code, count in sorted(codes.items()):
        print(f"  {code}: {count}")
    idle.report(f"idle {args.idle:.0f} s before")
    lag.report("while creating")
    passes = full.seconds[collections_before:]
    if passes:
        print(f"  of which the collector's full passes: {len(passes)}, the longest "
              f"{max(passes) * 1000:.0f} ms (objects created since gc.freeze())")
    grown = (rss_after - rss_before) / 2**20
    per_item = f", {grown * 1024 / created:.2f} KiB per item created" if created else ""
    print(f"server RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB{per_item}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1, help="clients at once (1)")
    parser.add_argument("--items", type=int, default=15_000, help="items per session (15000)")
    parser.add_argument("--per-call", type=int, default=0,
                        help="items per call (0: what the server advertises)")
    parser.add_argument("--idle", type=float, default=5.0,
                        help="seconds of idle loop measured first, the baseline (5)")
    parser.add_argument("--max-sessions", type=int, help="[opcua] max_sessions")
    parser.add_argument("--max-items", type=int, help="[opcua] max_monitored_items")
    parser.add_argument("--max-per-call", type=int, help="[opcua] max_monitored_items_per_call")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
