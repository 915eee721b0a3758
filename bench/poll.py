"""Gateway throughput and latency benchmark: Modbus devices in, OPC UA subscriber out.

Run by hand; prints a table and one JSON line (see bench/README.md for the definitions):

    python bench/poll.py --scenario A            # 10 devices x 1000 tags, 10 % change/s
    python bench/poll.py --scenario B            # 500 devices x 30 tags, 100 % change/s
    python bench/poll.py --devices 2 --tags 100 --duration 20

Every process it starts (simulated devices, the gateway, the node-opcua subscriber) is
stopped when it ends, fails or is interrupted; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import math
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from children import Child, ChildProcesses, add_run_options, end_on_signals, exit_code_of
from gateway_config import BenchDevice, device_names, render_config
from opcua_subscriber import Subscriber, SubscriberSettings, ensure_installed
from report import Figures, Target, percentile, rate, table
from tag_layout import tag_layout

logger = logging.getLogger("bench.poll")

REPO_ROOT = Path(__file__).resolve().parent.parent
FAST_DEVICES = Path(__file__).resolve().parent / "fast_devices.py"
NAMESPACE = "urn:uvelka:bench"
# The gateway's per-device Status variables (s=<device>.Status.<name>); RoundTripTime in ms.
STATUS_FIELDS = ("PollCount", "ErrorCount", "RoundTripTime")
# Sanity floors for every run: the gateway must keep its poll schedule and deliver what
# changed, or the cost figures describe a gateway that is not doing the job.
_SCHEDULE = Target("missed_cycles_pct", 1.0)
_DELIVERY = Target("delivery_pct", 99.0, at_most=False)
# Delivery is judged only while a tag changes at most every second poll: closer to the
# poll rate, a poll that starts late (queued behind other devices) sees two changes of a
# tag as one value, so the figure measures sampling jitter rather than lost values.
_DELIVERY_JUDGED_UP_TO = 0.5  # changes per tag per poll interval


@dataclass(frozen=True)
class Scenario:
    devices: int
    tags: int
    change: float
    targets: tuple[Target, ...]


SCENARIOS = {
    "A": Scenario(10, 1000, 0.1, (
        Target("cpu_pct", 10.0), Target("rss_mib_max", 250.0), Target("startup_s", 10.0),
        Target("latency_p99_ms", 25.0))),
    # The EMQ Neuron benchmark shape: 15,000 tags/s. Issue #17: with the default
    # configuration (the tag history on) at most 40 % of a core, p99 at most 50 ms.
    "B": Scenario(500, 30, 1.0, (Target("cpu_pct", 40.0), Target("latency_p99_ms", 50.0))),
}


@dataclass
class Options:
    scenario: str
    devices: int
    tags: int
    change: float
    duration_s: float
    warmup_s: float
    warmup_max_s: float
    poll_interval_s: float
    timeout_s: float
    publishing_interval_ms: float
    devices_per_process: int
    startup_timeout_s: float
    gateway_command: list[str]
    opcua_port: int
    keep_files: bool
    history: bool
    web: bool = False
    extra_toml: str = ""  # more of the gateway's configuration (gateway_config.render_config)


@dataclass(frozen=True)
class DeviceProcess:
    """One fast_devices.py child: its ports, and its running count of changes made."""

    child: Child
    ports: asyncio.Future[list[int]]
    changes: list[tuple[float, float]]  # (wall time s, changes made so far)


def _on_devices_line(ports: asyncio.Future[list[int]], changes: list[tuple[float, float]],
                     line: str) -> None:
    message = json.loads(line)
    if "ports" in message and not ports.done():
        ports.set_result(message["ports"])
    elif "changes" in message:
        changes.append((time.time(), float(message["changes"])))


@dataclass(frozen=True)
class Startup:
    """Seconds from the gateway's process start to each milestone (see README)."""

    port_s: float
    log_s: float | None
    session_s: float
    all_good_s: float


@dataclass(frozen=True)
class StatusReading:
    """One Status variable: its value and SourceTimestamp (s), None when not Good."""

    value: float | None
    t: float | None


@dataclass(frozen=True)
class StatusSnapshot:
    """Every device's Status variables, read at one moment."""

    devices: dict[str, dict[str, StatusReading]]

    def cycle_rate(self, before: StatusSnapshot) -> float | None:
        """Poll cycles per s since `before`, summed over devices.

        Each PollCount is stamped at the end of the cycle that set it, so the count and
        the time span between two readings match exactly, whenever they were read.
        """
        total = 0.0
        for device, now in self.devices.items():
            first, last = before.devices[device]["PollCount"], now["PollCount"]
            if (first.value is None or last.value is None or first.t is None
                    or last.t is None or last.t <= first.t):
                return None
            total += (last.value - first.value) / (last.t - first.t)
        return total

    def increase(self, before: StatusSnapshot, name: str) -> int | None:
        """How much a counter grew since `before`, summed over devices."""
        total = 0.0
        for device, now in self.devices.items():
            first, last = before.devices[device][name].value, now[name].value
            if first is None or last is None:
                return None
            total += last - first
        return round(total)

    def mean(self, name: str) -> float | None:
        """The mean of a variable over the devices that have a Good value."""
        found = [x for v in self.devices.values() if (x := v[name].value) is not None]
        return sum(found) / len(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _loop_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of the process's main thread: the gateway's event loop."""
    return sum(t.user_time + t.system_time for t in process.threads() if t.id == process.pid)


class Bench:
    """One benchmark run; `run` returns the figures, `children.aclose` cleans up."""

    def __init__(self, options: Options, work_dir: Path) -> None:
        self.options = options
        self.work_dir = work_dir
        self.children = ChildProcesses(work_dir)
        self.subscriber = Subscriber()
        self.device_processes: list[DeviceProcess] = []
        self.names = device_names(options.devices)
        self.serving_logged_at: float | None = None

    async def run(self) -> Figures:
        o = self.options
        specs = tag_layout(o.tags)
        ports = await self._start_devices()
        port = o.opcua_port or _free_port()
        endpoint = f"opc.tcp://127.0.0.1:{port}/uvelka"
        config_path = self.work_dir / "gateway.toml"
        config_path.write_text(render_config(
            endpoint=endpoint, namespace=NAMESPACE,
            devices=[BenchDevice(n, p) for n, p in zip(self.names, ports, strict=True)],
            specs=specs, poll_interval_s=o.poll_interval_s, timeout_s=o.timeout_s,
            data_dir=self.work_dir / "data", history=o.history, web=o.web, extra=o.extra_toml),
            encoding="utf-8")
        await self.subscriber.start(
            self.children,
            SubscriberSettings(endpoint, NAMESPACE,
                               [f"{d}.{s.name}" for d in self.names for s in specs],
                               o.publishing_interval_ms, o.startup_timeout_s),
            self.work_dir, timeout_s=60.0)

        logger.info("starting the gateway: %d devices x %d tags", o.devices, o.tags)
        started_at = time.time()
        gateway = await self.children.start(
            "gateway", [*o.gateway_command, "run", "-c", str(config_path)], cwd=REPO_ROOT,
            on_stderr=self._scan_gateway_log)
        deadline = time.monotonic() + o.startup_timeout_s
        await self._wait_for_port(port, gateway, deadline)
        port_at = time.time()
        self.subscriber.go()
        session_at = (await self.subscriber.expect("session", self._left(deadline)))["t"] / 1e3
        revised_ms = await self._wait_monitored(deadline)
        good_at = (await self.subscriber.expect("all_good", self._left(deadline)))["t"] / 1e3
        logger.info("every tag Good at the client %.2f s after the gateway started",
                    good_at - started_at)

        startup = Startup(
            port_s=port_at - started_at,
            log_s=(None if self.serving_logged_at is None
                   else self.serving_logged_at - started_at),
            session_s=session_at - started_at,
            all_good_s=good_at - started_at,
        )
        await self._settle(gateway, good_at)
        figures = await self._measure(gateway, revised_ms, startup)
        await self.subscriber.quit(timeout_s=10.0)
        return figures

    async def _start_devices(self) -> list[int]:
        o = self.options
        per_process = max(1, o.devices_per_process)
        loop = asyncio.get_running_loop()
        for first in range(0, o.devices, per_process):
            count = min(per_process, o.devices - first)
            ports: asyncio.Future[list[int]] = loop.create_future()
            changes: list[tuple[float, float]] = []
            child = await self.children.start(
                f"devices-{first:04d}",
                [sys.executable, str(FAST_DEVICES), "--devices", str(count), "--tags",
                 str(o.tags), "--change", str(o.change), "--seed", str(first)],
                on_stdout=functools.partial(_on_devices_line, ports, changes),
                leaves_on_eof=True)
            self.device_processes.append(DeviceProcess(child, ports, changes))
        all_ports: list[int] = []
        for process in self.device_processes:
            try:
                all_ports += await asyncio.wait_for(asyncio.shield(process.ports), 30.0)
            except TimeoutError:
                process.child.check_running()
                raise
        logger.info("%d simulated devices listening in %d processes",
                    len(all_ports), len(self.device_processes))
        return all_ports

    def _scan_gateway_log(self, line: str) -> None:
        if self.serving_logged_at is None and " devices at " in line and "serving" in line:
            self.serving_logged_at = time.time()

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.1, deadline - time.monotonic())

    @staticmethod
    async def _wait_for_port(port: int, gateway: Child, deadline: float) -> None:
        """Poll the OPC UA port every 20 ms until it accepts a TCP connection."""
        while time.monotonic() < deadline:
            gateway.check_running()
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 0.5)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise TimeoutError(f"the gateway's OPC UA port {port} did not open; log:\n"
                           f"{gateway.log_tail()}")

    async def _wait_monitored(self, deadline: float) -> float:
        """Wait until every tag is monitored; returns the revised publishing interval."""
        while True:
            event = await self.subscriber.expect("monitored", self._left(deadline))
            if event["failed"]:
                logger.info("%d tags not monitorable yet (%s); retrying",
                            event["failed"], event["firstError"])
                continue
            return float(event["revisedPublishingIntervalMs"])

    def _deliverable_per_s(self, changes_per_s: float) -> float:
        """Notifications the changes can yield: a poll sees at most one value per tag."""
        o = self.options
        if o.change * o.poll_interval_s <= 1.0:
            return changes_per_s
        return changes_per_s / (o.change * o.poll_interval_s)

    async def _settle(self, gateway: Child, good_at: float) -> None:
        """Wait out the start-up transient before measuring, within bounds.

        At least --warmup s; then until the notification rate over the last few ticks is
        within 10 % of what the devices' changes should yield (the gateway catches up on
        polls delayed while the client created its monitored items), at most --warmup-max.
        """
        o = self.options
        began = time.monotonic()
        await self._sleep_watching(o.warmup_s, gateway)
        expected = self._deliverable_per_s(o.devices * o.tags * o.change)
        span = max(3, math.ceil(3 * o.poll_interval_s))
        while time.monotonic() - began < o.warmup_max_s:
            recent = [t for t in self.subscriber.ticks if t.t > good_at][-span:]
            elapsed = sum(t.dt for t in recent)
            if len(recent) == span and abs(sum(t.count for t in recent) / elapsed - expected) \
                    <= 0.1 * expected + 1.0:
                return
            await self._sleep_watching(1.0, gateway)
        logger.warning("notifications did not settle near %.0f/s within %.0f s; measuring "
                       "anyway", expected, o.warmup_max_s)

    async def _sleep_watching(self, seconds: float, gateway: Child,
                              each_second: list[float] | None = None) -> None:
        """Sleep `seconds`, checking the gateway every second (and sampling its RSS)."""
        process = psutil.Process(gateway.pid)
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            gateway.check_running()
            if each_second is not None:
                each_second.append(process.memory_info().rss / 2**20)

    async def _read_status(self) -> StatusSnapshot:
        nodes = [f"{d}.Status.{name}" for d in self.names for name in STATUS_FIELDS]
        values = iter(await self.subscriber.read(nodes, timeout_s=30.0))
        return StatusSnapshot({
            device: {name: _reading(next(values)) for name in STATUS_FIELDS}
            for device in self.names
        })

    async def _measure(self, gateway: Child, revised_ms: float, startup: Startup) -> Figures:
        o = self.options
        watched = {
            "gateway": [psutil.Process(gateway.pid)],
            "devices": [psutil.Process(p.child.pid) for p in self.device_processes],
            "subscriber": [psutil.Process(self.subscriber.child.pid)],
        }
        status0 = await self._read_status()
        # Wall times pick the subscriber's ticks; the monotonic clock times the window, so a
        # step of the host's clock (seen on 2026-12-08) does not skew the CPU figures.
        w0, m0 = time.time(), time.monotonic()
        cpu0 = {k: sum(_cpu_s(p) for p in ps) for k, ps in watched.items()}
        loop0 = _loop_cpu_s(watched["gateway"][0])
        logger.info("measuring for %.0f s", o.duration_s)
        rss: list[float] = []
        await self._sleep_watching(o.duration_s, gateway, rss)
        w1, m1 = time.time(), time.monotonic()
        cpu1 = {k: sum(_cpu_s(p) for p in ps) for k, ps in watched.items()}
        loop1 = _loop_cpu_s(watched["gateway"][0])
        status1 = await self._read_status()
        window = m1 - m0
        cpu_pct = {k: (cpu1[k] - cpu0[k]) / window * 100.0 for k in cpu0}

        ticks = [t for t in self.subscriber.ticks if w0 < t.t <= w1]
        tick_span = sum(t.dt for t in ticks)
        notifications = sum(t.count for t in ticks) / tick_span if tick_span else 0.0
        latencies = [x for t in ticks for x in t.latencies_ms]
        changes = 0.0
        for process in self.device_processes:
            inside = [c for c in process.changes if w0 <= c[0] <= w1]
            if len(inside) >= 2:
                changes += rate(inside[0], inside[-1])

        cycles = status1.cycle_rate(status0)
        figures = Figures(
            scenario=o.scenario, devices=o.devices, tags_per_device=o.tags,
            change_per_s=o.change, poll_interval_s=o.poll_interval_s,
            publishing_interval_ms=revised_ms, history=o.history, window_s=window,
            startup_port_s=startup.port_s, startup_log_s=startup.log_s,
            startup_session_s=startup.session_s, startup_s=startup.all_good_s,
            changes_per_s=changes, notifications_per_s=notifications,
            delivery_pct=(notifications / self._deliverable_per_s(changes) * 100.0
                          if changes else None),
            bad_notifications=sum(t.bad for t in ticks),
            values_polled_per_s=None if cycles is None else cycles * o.tags,
            poll_cycles_per_s=cycles,
            missed_cycles_pct=(None if cycles is None else max(
                0.0, 100.0 * (1.0 - cycles * o.poll_interval_s / o.devices))),
            poll_errors=status1.increase(status0, "ErrorCount"),
            round_trip_ms=status1.mean("RoundTripTime"),
            cpu_pct=cpu_pct["gateway"], loop_cpu_pct=(loop1 - loop0) / window * 100.0,
            rss_mib_max=max(rss), rss_mib_end=rss[-1],
            devices_cpu_pct=cpu_pct["devices"], subscriber_cpu_pct=cpu_pct["subscriber"],
            latency_samples=len(latencies),
            latency_p50_ms=percentile(latencies, 50.0),
            latency_p99_ms=percentile(latencies, 99.0),
            latency_max_ms=max(latencies, default=None),
        )
        return figures


def _reading(read: dict[str, Any]) -> StatusReading:
    good = read["status"] == "Good" and read["value"] is not None
    return StatusReading(
        float(read["value"]) if good else None,
        read["t"] / 1000.0 if good and read["t"] is not None else None,
    )


def _parse(argv: Sequence[str] | None) -> tuple[Options, tuple[Target, ...]]:
    parser = argparse.ArgumentParser(
        description="Gateway throughput/latency benchmark (see bench/README.md).")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="A",
                        help="A: 10 x 1000 tags, 10 %% change/s; B: 500 x 30, 100 %%")
    parser.add_argument("--devices", type=int, help="override the scenario's device count")
    parser.add_argument("--tags", type=int, help="override the scenario's tags per device")
    parser.add_argument("--change", type=float,
                        help="override the fraction of each device's tags changed per second")
    parser.add_argument("--duration", type=float, default=60.0, help="measurement window, s")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="least s between every tag Good and the window")
    parser.add_argument("--warmup-max", type=float, default=60.0,
                        help="most s to wait for the notification rate to settle")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="s, every device")
    parser.add_argument("--timeout", type=float, default=1.0, help="Modbus timeout, s")
    parser.add_argument("--publishing-interval-ms", type=float, default=10.0,
                        help="requested OPC UA publishing interval (asyncua grants any)")
    parser.add_argument("--devices-per-process", type=int, default=50,
                        help="simulated devices per pyModbusTCP process")
    parser.add_argument("--startup-timeout", type=float, default=180.0,
                        help="s allowed from gateway start to every tag Good")
    parser.add_argument("--opcua-port", type=int, default=0, help="0: a free port")
    parser.add_argument("--history", choices=("on", "off"), default="on",
                        help="the gateway's [history] store (on: the shipped default)")
    parser.add_argument("--web", choices=("on", "off"), default="off",
                        help="the gateway's [web] page, on a free port (off: no [web] table)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    scenario = SCENARIOS[args.scenario]
    options = Options(
        scenario=args.scenario,
        devices=args.devices or scenario.devices,
        tags=args.tags or scenario.tags,
        change=scenario.change if args.change is None else args.change,
        duration_s=args.duration, warmup_s=args.warmup, warmup_max_s=args.warmup_max,
        poll_interval_s=args.poll_interval, timeout_s=args.timeout,
        publishing_interval_ms=args.publishing_interval_ms,
        devices_per_process=args.devices_per_process,
        startup_timeout_s=args.startup_timeout,
        gateway_command=shlex.split(args.gateway_command),
        opcua_port=args.opcua_port, keep_files=args.keep_files,
        history=args.history == "on", web=args.web == "on",
    )
    if not (options.devices > 0 and options.tags > 0 and 0.0 <= options.change <= 1.0
            and options.duration_s >= 1.0 and options.publishing_interval_ms >= 0.0):
        parser.error("need devices > 0, tags > 0, 0 <= change <= 1, duration >= 1 s")
    floors = [_SCHEDULE]
    if options.change * options.poll_interval_s <= _DELIVERY_JUDGED_UP_TO:
        floors.append(_DELIVERY)
    if (options.devices, options.tags, options.change) != (
            scenario.devices, scenario.tags, scenario.change):
        # A resized run is not held to the headline targets, stated for the scenario's size.
        options.scenario = f"{args.scenario} (resized)"
        return options, tuple(floors)
    return options, (*scenario.targets, *floors)


async def _run(bench: Bench, targets: tuple[Target, ...]) -> int:
    end_on_signals()
    try:
        figures = await bench.run()
    finally:
        await bench.children.aclose()
    figures.judge(targets)
    print(table(figures, targets))
    print(figures.as_json())
    return 0 if all(figures.verdicts.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    options, targets = _parse(argv)
    ensure_installed()
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-bench-"))
    bench = Bench(options, work_dir)

    def cleanup(finished: bool) -> None:
        # Whatever a second Ctrl-C kept `aclose` from stopping dies here.
        bench.children.kill_all()
        if finished and not options.keep_files:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            logger.info("config and logs kept in %s", work_dir)

    return exit_code_of(_run(bench, targets), cleanup)


if __name__ == "__main__":
    sys.exit(main())
