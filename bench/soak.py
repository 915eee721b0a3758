"""Soak benchmark (issue #14): hours of polling through faults, watching for slow leaks.

Run by hand; prints the gateway's RSS and CPU every minute and, at the end, their
least-squares slopes and the counts (see bench/README.md, "Soak"):

    python bench/soak.py --hours 2          # the figure bench/README.md asks for
    python bench/soak.py --minutes 5        # a quick check that everything turns

The gateway (`python -m gateway run -c FILE`) polls `--devices` x `--tags` (10 x 1000)
at 1 s from pyModbusTCP devices (`fast_devices.py`, one process per device so that one
can be stopped), a node-opcua subscriber monitors every tag, and one asset on its own
device (`alarms_devices.py`) is scored by an anomaly model with one alarm, published to
a mosquitto that a paho subscriber listens to. Meanwhile, on one schedule:

- every minute the asset is disturbed for a few seconds: one alarm activation and clear;
- every `--dropout-every` (600 s) one device, in turn, is stopped for `--dropout` (60 s)
  and started again on its port;
- every `--broker-every` (900 s) mosquitto is stopped and started again on its port;
- every `--swap-every` (600 s) the model file is replaced by the other of two trained
  models (written beside and renamed over, as `uvelka train` does): hot reload swaps it.

The faults fall between the alarm's transitions, so the paho subscriber (a clean
session) is connected whenever the gateway publishes one. Every process it starts is
stopped when it ends, fails, is interrupted or gets SIGTERM/SIGHUP. Exit code: 0 every
target met, 1 one missed, 2 the run failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import alarms_config
import psutil
import tomlkit
from alarms_broker import Broker, MqttCollector, Received, start_mosquitto
from alarms_model import BenchModel, train_model
from alarms_transitions import ACTIVATED, CLEARED, mqtt_transition
from children import Child, ChildProcesses, add_run_options, end_on_signals, exit_code_of
from gateway_config import BenchDevice, device_names, render_config
from opcua_subscriber import Subscriber, SubscriberSettings, ensure_installed
from poll import (
    FAST_DEVICES,
    NAMESPACE,
    REPO_ROOT,
    STATUS_FIELDS,
    Bench,
    StatusSnapshot,
    _cpu_s,
    _free_port,
    _reading,
)
from soak_report import Figures, Sample, minute_line, slope_line, summary
from tag_layout import tag_layout

from gateway.mqtt.topics import Topics

logger = logging.getLogger("bench.soak")

ALARM_DEVICES = Path(__file__).resolve().parent / "alarms_devices.py"
POLL_INTERVAL_S = 1.0
ALARM_EVERY_S = 60.0  # one disturbance a minute: the faults are placed between them
DISTURBED_S = 5.0
# Offsets into the minute: the alarm activates at ~2 s and clears ~17 s after the inputs
# are normal again (the model's 15-row window at 1 s), so from 30 s on it is quiet.
QUIET_BY_S = 30.0
FAULT_OFFSET_S = QUIET_BY_S + 5.0
LAST_SAMPLE_GRACE_S = 10.0
_LINK_DOWN = re.compile(r"\b(d\d+): link down: ")
_LINK_BACK = re.compile(r"\b(d\d+): link back after ")
_MQTT_BACK = re.compile(r"MQTT broker \S+ back after ")
_MODEL_SWAPPED = re.compile(r": anomaly model \S+ -> ")
_MODEL_REJECTED = re.compile(r": anomaly model \S+ rejected")
_PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")


@dataclass(frozen=True)
class Options:
    duration_s: float
    devices: int
    tags: int
    change: float
    dropout_every_s: float
    dropout_s: float
    broker_every_s: float
    swap_every_s: float
    sample_every_s: float
    startup_timeout_s: float
    gateway_command: list[str]
    keep_files: bool


class Restartable:
    """A child the soak stops and starts again: one ChildProcesses per life, so that
    stopping it leaves every other child alone."""

    def __init__(self, name: str, log_dir: Path,
                 start: Callable[[ChildProcesses, str], Coroutine[Any, Any, Child]]) -> None:
        self.name = name
        self._log_dir = log_dir
        self._start = start
        self._lives = 0
        self._current: ChildProcesses | None = None

    async def start(self) -> Child:
        self._lives += 1
        self._current = ChildProcesses(self._log_dir)
        return await self._start(self._current, f"{self.name}-{self._lives}")

    async def stop(self) -> None:
        if self._current is not None:
            await self._current.aclose()
            self._current = None

    def kill(self) -> None:
        if self._current is not None:
            self._current.kill_all()


class Soak:
    """One soak run; `aclose` stops whatever it started."""

    def __init__(self, options: Options, work_dir: Path) -> None:
        self.options = options
        self.work_dir = work_dir
        self.children = ChildProcesses(work_dir)
        self.subscriber = Subscriber()
        self.names = device_names(options.devices)
        self.specs = tag_layout(options.tags)
        self.devices: list[Restartable] = []
        self.device_ports: list[int] = []
        self.broker: Restartable | None = None
        self.collector: MqttCollector | None = None
        self.figures = Figures()
        self.down_links: set[str] = set()
        self.stopped: set[str] = set()
        self._disturbed: set[str] = set()  # devices down at any time since the last look
        self._topics = Topics(alarms_config.TOPIC_PREFIX, alarms_config.GATEWAY)
        self._alarm_ids: set[str] = set()
        self._gateway: Child | None = None
        self._alarm_device: Child | None = None

    # -- start --

    async def run(self) -> Figures:
        o = self.options
        broker_port = _free_port()
        self.broker = Restartable("mosquitto", self.work_dir, functools.partial(
            self._start_broker, broker_port))
        await self.broker.start()
        model, other = await self._train_models()
        alarm_port = await self._start_alarm_device(model)
        for index, name in enumerate(self.names):
            self.devices.append(Restartable(name, self.work_dir, functools.partial(
                self._start_device, index)))
            self.device_ports.append(0)
        for index, device in enumerate(self.devices):
            await device.start()
            logger.debug("device %s on port %d", device.name, self.device_ports[index])
        opcua_port = _free_port()
        endpoint = f"opc.tcp://127.0.0.1:{opcua_port}/uvelka"
        config = self.work_dir / "gateway.toml"
        config.write_text(self._config(endpoint, broker_port, model, alarm_port),
                          encoding="utf-8")

        loop = asyncio.get_running_loop()
        def in_loop(received: Received) -> None:  # called in paho's thread
            loop.call_soon_threadsafe(self._on_alarm, received)

        self.collector = MqttCollector(broker_port, [self._topics.alarm("#")], in_loop)
        await self.collector.start()
        nodes = [f"{d}.{s.name}" for d in self.names for s in self.specs]
        await self.subscriber.start(
            self.children,
            # Few latency samples a second: hours of them would fill the bench's memory.
            SubscriberSettings(endpoint, NAMESPACE, nodes, 100.0, o.startup_timeout_s,
                               latency_samples_per_tick=10),
            self.work_dir, timeout_s=60.0)
        logger.info("starting the gateway: %d devices x %d tags, one scored asset",
                    o.devices, o.tags)
        self._gateway = gateway = await self.children.start(
            "gateway", [*o.gateway_command, "run", "-c", str(config)], cwd=REPO_ROOT,
            on_stderr=self._scan_log)
        deadline = time.monotonic() + o.startup_timeout_s
        await Bench._wait_for_port(opcua_port, gateway, deadline)
        self.subscriber.go()
        await self.subscriber.expect("all_good", max(0.1, deadline - time.monotonic()))
        logger.info("every tag Good at the subscriber; soaking for %.1f min",
                    o.duration_s / 60.0)
        # The subscriber's next tick may still count the start's BadWaitingForInitialData.
        await asyncio.sleep(2.0)
        return await self._soak(gateway, model, other)

    async def _start_broker(self, port: int, children: ChildProcesses, name: str) -> Child:
        broker: Broker = await start_mosquitto(children, self.work_dir, name, port=port)
        return broker.child

    async def _start_device(self, index: int, children: ChildProcesses, name: str) -> Child:
        o = self.options
        loop = asyncio.get_running_loop()
        ports: asyncio.Future[list[int]] = loop.create_future()

        def on_line(line: str) -> None:
            message = json.loads(line)
            if "ports" in message and not ports.done():
                ports.set_result(message["ports"])

        child = await children.start(
            name, [sys.executable, str(FAST_DEVICES), "--devices", "1", "--tags", str(o.tags),
                   "--change", str(o.change), "--seed", str(index),
                   "--ports", str(self.device_ports[index])],
            on_stdout=on_line, leaves_on_eof=True)
        try:
            self.device_ports[index] = (await asyncio.wait_for(asyncio.shield(ports), 30.0))[0]
        except TimeoutError:
            child.check_running()
            raise
        return child

    async def _start_alarm_device(self, model: BenchModel) -> int:
        loop = asyncio.get_running_loop()
        ports: asyncio.Future[list[int]] = loop.create_future()

        def on_line(line: str) -> None:
            if not ports.done():
                ports.set_result(json.loads(line)["ports"])

        self._alarm_device = await self.children.start(
            "alarm-device", [sys.executable, str(ALARM_DEVICES), "--devices", "1",
                             "--signals", str(len(model.signals))],
            on_stdout=on_line, leaves_on_eof=True)
        port = (await asyncio.wait_for(asyncio.shield(ports), 30.0))[0]
        self._set_inputs(model.centre)
        return port

    async def _train_models(self) -> tuple[BenchModel, BenchModel]:
        """Two anomaly models of the same recipe on different recordings: the running
        one, in the gateway's models folder, and the other one to swap in."""
        trained = []
        for seed in (7, 8):
            folder = self.work_dir / f"train-{seed}"
            folder.mkdir()
            trained.append(await train_model(self.children, folder, seed))
        return trained[0], trained[1]

    def _config(self, endpoint: str, broker_port: int, model: BenchModel,
                alarm_port: int) -> str:
        """poll.py's devices and tags with alarms.py's scored asset, MQTT and models."""
        polled = tomllib.loads(render_config(
            endpoint=endpoint, namespace=NAMESPACE,
            devices=[BenchDevice(n, p) for n, p in zip(self.names, self.device_ports,
                                                       strict=True)],
            specs=self.specs, poll_interval_s=POLL_INTERVAL_S, timeout_s=1.0,
            data_dir=self.work_dir / "data"))
        scored = tomllib.loads(alarms_config.render_config(
            assets=alarms_config.bench_assets([alarm_port]), model=model, endpoint=endpoint,
            broker_port=broker_port, data_dir=self.work_dir / "data", interval_s=1.0,
            poll_interval_s=POLL_INTERVAL_S))
        polled["devices"] += scored["devices"]
        for key in ("analytics", "mqtt", "assets", "alarms"):
            polled[key] = scored[key]
        return tomlkit.dumps(polled)

    # -- the soak --

    async def _soak(self, gateway: Child, model: BenchModel, other: BenchModel) -> Figures:
        o = self.options
        began = time.monotonic()
        end = began + o.duration_s
        self.subscriber.ticks.clear()  # the start's Bad notifications are no fault

        async def until(offset_s: float) -> bool:
            """Sleep until `offset_s` into the run; False when the run ends first."""
            if began + offset_s > end:
                return False
            await asyncio.sleep(max(0.0, began + offset_s - time.monotonic()))
            return True

        async def alarms() -> None:
            k = 1  # the asset's first window fills meanwhile
            # No disturbance too close to the end for its clear to arrive within the run.
            while k * ALARM_EVERY_S + QUIET_BY_S <= o.duration_s and await until(
                    k * ALARM_EVERY_S):
                self._set_inputs(model.far)
                self.figures.counts.activations_driven += 1
                await asyncio.sleep(DISTURBED_S)
                self._set_inputs(model.centre)
                k += 1

        async def dropouts() -> None:
            k = 0
            while await until(k * o.dropout_every_s + o.dropout_every_s / 2 + FAULT_OFFSET_S):
                device = self.devices[k % len(self.devices)]
                logger.info("stopping device %s for %.0f s", device.name, o.dropout_s)
                self.stopped.add(device.name)
                self._disturbed.add(device.name)
                await device.stop()
                self.figures.counts.dropouts += 1
                await asyncio.sleep(o.dropout_s)
                await device.start()
                self.stopped.discard(device.name)
                k += 1

        async def broker_restarts() -> None:
            assert self.broker is not None
            k = 1
            while await until(k * o.broker_every_s + FAULT_OFFSET_S):
                logger.info("restarting mosquitto")
                await self.broker.stop()
                await self.broker.start()
                self.figures.counts.broker_restarts += 1
                k += 1

        async def swaps() -> None:
            # Copies of both files: the running one is overwritten by the first swap.
            kept = self.work_dir / "swaps"
            kept.mkdir()
            files = [shutil.copy(m.folder / m.file, kept / f"{i}.onnx")
                     for i, m in enumerate((other, model))]
            k = 1
            while await until(k * o.swap_every_s + FAULT_OFFSET_S + 5.0):
                await asyncio.to_thread(_replace_model, Path(files[(k - 1) % 2]), model)
                self.figures.counts.swaps_written += 1
                logger.info("model file replaced (swap %d)", k)
                k += 1

        async def samples() -> None:
            process = psutil.Process(gateway.pid)
            wall0, cpu0 = time.monotonic(), _cpu_s(process)
            status0 = await self._read_status()
            k = 1
            while await until(k * o.sample_every_s):
                gateway.check_running()
                wall1, cpu1 = time.monotonic(), _cpu_s(process)
                status1 = await self._read_status()
                self._count_polls(status0, status1)
                sample = Sample((wall1 - began) / 3600.0, process.memory_info().rss / 2**20,
                                (cpu1 - cpu0) / (wall1 - wall0) * 100.0)
                self.figures.samples.append(sample)
                self._take_ticks()
                print(minute_line(sample, self.figures.counts, o.duration_s), flush=True)
                if k % 10 == 0:
                    print(slope_line(self.figures, sample.hours), flush=True)
                wall0, cpu0, status0 = wall1, cpu1, status1
                k += 1

        async def watch() -> None:
            # Checks the children every second; ends the run a little after its end, so
            # that the last sample (due at the end) is taken.
            while time.monotonic() < end + LAST_SAMPLE_GRACE_S:
                gateway.check_running()
                self.subscriber.child.check_running()
                await asyncio.sleep(1.0)
            raise _RunOver

        try:
            async with asyncio.TaskGroup() as group:
                for job in (alarms, dropouts, broker_restarts, swaps, samples, watch):
                    group.create_task(job(), name=job.__name__)
        except ExceptionGroup as ended:
            _over, failed = ended.split(_RunOver)
            if failed is not None:
                raise failed.exceptions[0] from None  # the first failure tells the story
        # Let the last transitions and link returns arrive before counting.
        await asyncio.sleep(min(30.0, o.sample_every_s))
        self._take_ticks()
        # What the gateway logs while everything stops is not part of the soak.
        return Figures(list(self.figures.samples), replace(self.figures.counts))

    def _set_inputs(self, values: Sequence[float]) -> None:
        assert self._alarm_device is not None
        self._alarm_device.send({"device": 0, "values": list(values)})

    async def _read_status(self) -> StatusSnapshot:
        nodes = [f"{d}.Status.{name}" for d in self.names for name in STATUS_FIELDS]
        values = iter(await self.subscriber.read(nodes, timeout_s=60.0))
        return StatusSnapshot({
            device: {name: _reading(next(values)) for name in STATUS_FIELDS}
            for device in self.names
        })

    def _count_polls(self, before: StatusSnapshot, now: StatusSnapshot) -> None:
        """Poll cycles owed and missed since `before` by devices that were up throughout
        (a stopped device's loop backs off: its missing cycles are the fault, not a miss)."""
        counts = self.figures.counts
        for device in self.names:
            if device in self._disturbed:
                continue
            first, last = before.devices[device]["PollCount"], now.devices[device]["PollCount"]
            if (first.value is None or last.value is None or first.t is None
                    or last.t is None):
                continue
            owed = (last.t - first.t) / POLL_INTERVAL_S
            counts.polls_owed += owed
            counts.polls_missed += max(0.0, owed - (last.value - first.value))
        self._disturbed = self.stopped | self.down_links

    def _take_ticks(self) -> None:
        ticks, self.subscriber.ticks = self.subscriber.ticks, []
        self.figures.counts.notifications += sum(t.count for t in ticks)
        self.figures.counts.bad_notifications += sum(t.bad for t in ticks)

    # -- what the gateway and the subscriber say --

    def _on_alarm(self, received: Received) -> None:
        transition, _seq = mqtt_transition(received.t, received.payload)
        if transition.event_id in self._alarm_ids:
            return  # sent again after a reconnect (QoS 1): delivered once
        self._alarm_ids.add(transition.event_id)
        if transition.kind == ACTIVATED:
            self.figures.counts.activations_delivered += 1
        elif transition.kind == CLEARED:
            self.figures.counts.clears_delivered += 1
        if self.collector is not None:
            self.collector.take()  # the counts above are all the soak keeps

    def _scan_log(self, line: str) -> None:
        counts = self.figures.counts
        if match := _LINK_DOWN.search(line):
            counts.links_down += 1
            self.down_links.add(match.group(1))
            self._disturbed.add(match.group(1))
        elif match := _LINK_BACK.search(line):
            counts.links_back += 1
            self.down_links.discard(match.group(1))
        elif _MQTT_BACK.search(line):
            counts.mqtt_reconnects += 1
        elif _MODEL_SWAPPED.search(line):
            counts.swaps_taken += 1
        elif _MODEL_REJECTED.search(line):
            counts.swaps_rejected += 1
        if problem := _PROBLEM.match(line):
            if problem.group(1) == "WARNING":
                counts.gateway_warnings += 1
            else:
                counts.gateway_errors += 1

    async def aclose(self) -> None:
        """Stop the gateway (and its subscriber) first, then what it talks to."""
        await self.children.aclose()
        if self.collector is not None:
            await self.collector.stop()
        for device in reversed(self.devices):
            await device.stop()
        if self.broker is not None:
            await self.broker.stop()

    def kill_all(self) -> None:
        for device in self.devices:
            device.kill()
        if self.broker is not None:
            self.broker.kill()
        self.children.kill_all()


class _RunOver(Exception):
    """The soak's time is up: ends the TaskGroup of its schedules."""


def _replace_model(source: Path, running: BenchModel) -> None:
    """Write `source` beside the running model's file and rename it over (atomic)."""
    target = running.folder / running.file
    beside = target.with_suffix(".onnx.new")
    shutil.copyfile(source, beside)
    os.replace(beside, target)


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="Soak benchmark (see bench/README.md).")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--hours", type=float, help="how long to soak (fractions allowed)")
    length.add_argument("--minutes", type=float, help="the same in minutes, for a quick check")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--tags", type=int, default=1000, help="tags per device")
    parser.add_argument("--change", type=float, default=0.1,
                        help="fraction of each device's tags changed per second")
    parser.add_argument("--dropout-every", type=float, default=600.0,
                        help="s between device dropouts (one device each time, in turn)")
    parser.add_argument("--dropout", type=float, default=60.0, help="s a device stays away")
    parser.add_argument("--broker-every", type=float, default=900.0,
                        help="s between mosquitto restarts")
    parser.add_argument("--swap-every", type=float, default=600.0,
                        help="s between model file replacements")
    parser.add_argument("--sample-every", type=float, default=60.0,
                        help="s between RSS/CPU lines")
    parser.add_argument("--startup-timeout", type=float, default=300.0,
                        help="s allowed from gateway start to every tag Good")
    add_run_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    duration_s = 3600.0 * args.hours if args.hours is not None else 60.0 * args.minutes
    if not (duration_s >= 60.0 and args.devices > 0 and args.tags > 0
            and 0.0 <= args.change <= 1.0 and args.dropout < args.dropout_every):
        parser.error("need a run of at least a minute, devices > 0, tags > 0, "
                     "0 <= change <= 1, dropout shorter than dropout-every")
    return Options(
        duration_s=duration_s, devices=args.devices, tags=args.tags, change=args.change,
        dropout_every_s=args.dropout_every, dropout_s=args.dropout,
        broker_every_s=args.broker_every, swap_every_s=args.swap_every,
        sample_every_s=args.sample_every, startup_timeout_s=args.startup_timeout,
        gateway_command=shlex.split(args.gateway_command), keep_files=args.keep_files)


async def _run(soak: Soak) -> int:
    end_on_signals()  # under nohup, not SIGHUP: a closed terminal must not end hours of soak
    try:
        figures = await soak.run()
    finally:
        with contextlib.suppress(Exception):  # a broken child must not keep the rest running
            await soak.subscriber.quit(timeout_s=10.0)
        await soak.aclose()
    o = soak.options
    shape = f"{o.devices} devices x {o.tags} tags at {POLL_INTERVAL_S:g} s"
    text, data, met = summary(figures, shape, o.duration_s)
    print(text)
    print(json.dumps(data))
    return 0 if met else 1


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    ensure_installed()
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-soak-"))
    soak = Soak(options, work_dir)

    def cleanup(finished: bool) -> None:
        # Whatever a second Ctrl-C kept `aclose` from stopping dies here.
        soak.kill_all()
        if finished and not options.keep_files:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            logger.info("config and logs kept in %s", work_dir)

    return exit_code_of(_run(soak), cleanup)


if __name__ == "__main__":
    sys.exit(main())
