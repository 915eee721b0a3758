"""Part 1 of bench/alarms.py: how long an alarm transition takes from the asset's score
crossing its limit to an MQTT subscriber and to an OPC UA client (see bench/README.md).

The gateway runs as its own process (`python -m gateway run -c FILE`) with N assets, each
on its own simulated device, scored every `interval` by one anomaly model, with one alarm
above a limit on its AnomalyScore. Each asset's driver sets its device's inputs far out,
waits until the activation reaches either client, sets them back to normal, waits for the
clear, and starts again after a random fraction of an interval; the drivers start
staggered over one cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from alarms_broker import MqttCollector, Received, start_mosquitto
from alarms_config import GATEWAY, NAMESPACE, TOPIC_PREFIX, BenchAsset, bench_assets, render_config
from alarms_model import BenchModel, train_model
from alarms_opcua import ConditionEvent, OpcuaEvents
from alarms_transitions import (
    ACTIVATED,
    CLEARED,
    DRIVEN,
    ActiveFlips,
    ChannelFigures,
    SeqCheck,
    Transition,
    channel_figures,
    mqtt_transition,
    seq_check,
)
from children import Child, ChildProcesses
from poll import Bench, _cpu_s, _free_port

from gateway.mqtt.client import ONLINE
from gateway.mqtt.topics import Topics

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVICES = Path(__file__).resolve().parent / "alarms_devices.py"
_PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")
_PROBLEMS_KEPT = 20
_WAKE_S = 1.0  # a waiting driver checks at least this often that the gateway still runs


@dataclass(frozen=True)
class LatencyOptions:
    assets: int
    cycles: int
    interval_s: float
    poll_interval_s: float
    publishing_interval_ms: float
    startup_timeout_s: float
    gateway_command: list[str]
    seed: int


@dataclass
class LatencyFigures:
    """Part 1's figures; latencies are arrival - the event's time, per channel."""

    assets: int
    cycles: int
    interval_s: float
    poll_interval_s: float
    publishing_interval_ms: float
    window_rows: int
    normal_score: float
    disturbed_score: float
    limit: float
    startup_s: float  # the gateway's spawn to every asset scored Good and MQTT online
    run_s: float  # the first disturbed input to the end of the deliveries
    timeouts: int  # driven transitions that reached neither client in time
    gateway_cpu_pct: float  # of one core, over run_s
    gateway_rss_mib_max: float
    gateway_warnings: int
    gateway_errors: int
    gateway_problems: list[str]  # the first WARNING/ERROR lines of its log
    load_average: tuple[float, float]  # 1-minute, when the cycles started and ended
    mqtt: ChannelFigures
    opcua: ChannelFigures
    mqtt_seq: SeqCheck  # the alarm numbers of every alarm message, against 1..highest
    only_mqtt: int  # driven events one client got and the other never did
    only_opcua: int


class LatencyRun:
    """One run of part 1; `children` holds every process it starts."""

    def __init__(self, options: LatencyOptions, work_dir: Path) -> None:
        self.options = options
        self.work_dir = work_dir
        self.children = ChildProcesses(work_dir)
        self._random = random.Random(options.seed)
        self._topics = Topics(TOPIC_PREFIX, GATEWAY)
        self._flips = ActiveFlips()
        self.mqtt: list[Transition] = []
        self.mqtt_seqs: list[int] = []
        self.opcua: list[Transition] = []
        self.far_writes: defaultdict[str, list[float]] = defaultdict(list)
        self._seen: defaultdict[tuple[str, str], set[str]] = defaultdict(set)  # either client
        self._arrived: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._online = False
        self.timeouts = 0
        self._warnings = 0
        self._errors = 0
        self._problems: list[str] = []
        self._collector: MqttCollector | None = None
        self._events: OpcuaEvents | None = None
        self._devices: Child | None = None
        self._gateway: Child | None = None

    async def run(self) -> LatencyFigures:
        try:
            return await self._run()
        finally:
            await self._close()

    async def _run(self) -> LatencyFigures:
        o = self.options
        broker = await start_mosquitto(self.children, self.work_dir, "mosquitto-latency")
        model = await train_model(self.children, self.work_dir, o.seed)
        assets = bench_assets(await self._start_devices(model))
        for index in range(len(assets)):
            self._set(index, model.centre)
        opcua_port = _free_port()
        endpoint = f"opc.tcp://127.0.0.1:{opcua_port}/uvelka"
        config = self.work_dir / "gateway.toml"
        config.write_text(render_config(
            assets=assets, model=model, endpoint=endpoint, broker_port=broker.port,
            data_dir=self.work_dir / "data", interval_s=o.interval_s,
            poll_interval_s=o.poll_interval_s), encoding="utf-8")

        loop = asyncio.get_running_loop()

        def in_loop(received: Received) -> None:  # called in paho's thread
            loop.call_soon_threadsafe(self._on_mqtt, received)

        self._collector = MqttCollector(
            broker.port, [self._topics.alarm("#"), self._topics.status], on_message=in_loop)
        await self._collector.start()
        logger.info("starting the gateway: %d assets, one alarm each", len(assets))
        started = time.time()
        self._gateway = gateway = await self.children.start(
            "gateway", [*o.gateway_command, "run", "-c", str(config)], cwd=REPO_ROOT,
            on_stderr=self._scan_log)
        deadline = time.monotonic() + o.startup_timeout_s
        await Bench._wait_for_port(opcua_port, gateway, deadline)
        self._events = OpcuaEvents(endpoint, self._on_opcua)
        await self._events.connect(o.publishing_interval_ms)
        await self._wait_ready(assets, deadline)
        startup_s = time.time() - started
        logger.info("every asset scored and MQTT online %.1f s after the gateway started; "
                    "driving %d cycles per asset", startup_s, o.cycles)

        process = psutil.Process(gateway.pid)
        rss: list[float] = []
        sampler = asyncio.create_task(_sample_rss(process, rss), name="rss")
        cpu0, began, load0 = _cpu_s(process), time.time(), os.getloadavg()[0]
        try:
            await self._drive_all(assets, model)
            await self._wait_delivered(len(assets) * o.cycles)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        ended = time.time()
        cpu_pct = (_cpu_s(process) - cpu0) / (ended - began) * 100.0
        return self._figures(model, startup_s, ended - began, cpu_pct, rss,
                             (load0, os.getloadavg()[0]))

    async def _start_devices(self, model: BenchModel) -> list[int]:
        loop = asyncio.get_running_loop()
        ports: asyncio.Future[list[int]] = loop.create_future()

        def on_line(line: str) -> None:
            if not ports.done():
                ports.set_result(json.loads(line)["ports"])

        self._devices = await self.children.start(
            "devices", [sys.executable, str(DEVICES), "--devices", str(self.options.assets),
                        "--signals", str(len(model.signals))],
            on_stdout=on_line, leaves_on_eof=True)
        try:
            return await asyncio.wait_for(asyncio.shield(ports), 30.0)
        except TimeoutError:
            self._devices.check_running()
            raise

    def _set(self, index: int, values: Sequence[float]) -> None:
        assert self._devices is not None
        self._devices.send({"device": index, "values": list(values)})

    async def _wait_ready(self, assets: Sequence[BenchAsset], deadline: float) -> None:
        """Until every asset has a Good AnomalyScore (its window is full) and the bridge
        announced itself `online`."""
        assert self._events is not None
        assert self._gateway is not None
        names = [f"{item.asset}.AnomalyScore" for item in assets]
        while time.monotonic() < deadline:
            self._gateway.check_running()
            values = await self._events.read(NAMESPACE, names)
            if self._online and all(dv.StatusCode is not None and dv.StatusCode.is_good()
                                    for dv in values):
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"not ready within {self.options.startup_timeout_s:.0f} s: "
                           f"scores Good or MQTT online missing; gateway log:\n"
                           f"{self._gateway.log_tail()}")

    async def _drive_all(self, assets: Sequence[BenchAsset], model: BenchModel) -> None:
        cycle_s = (model.window_rows + 1.5) * self.options.interval_s
        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(assets):
                    delay_s = index * cycle_s / len(assets)
                    group.create_task(self._drive(index, item, model, delay_s),
                                      name=f"drive-{item.asset}")
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure tells the story

    async def _drive(self, index: int, item: BenchAsset, model: BenchModel,
                     delay_s: float) -> None:
        """Disturb the asset and let it recover, `cycles` times, each step once the
        previous transition reached a client."""
        o = self.options
        # The activation needs the next poll and the next row; the clear needs the
        # disturbed row to leave the model's window.
        activation_s = 2 * o.interval_s + o.poll_interval_s + 5.0
        clear_s = (model.window_rows + 2) * o.interval_s + o.poll_interval_s + 5.0
        await asyncio.sleep(delay_s)
        for _ in range(o.cycles):
            before = len(self._seen[item.alarm, ACTIVATED])
            self._set(index, model.far)
            self.far_writes[item.alarm].append(time.time())
            await self._await_new(item.alarm, ACTIVATED, before, activation_s)
            before = len(self._seen[item.alarm, CLEARED])
            self._set(index, model.centre)
            await self._await_new(item.alarm, CLEARED, before, clear_s)
            await asyncio.sleep(self._random.uniform(0.0, o.interval_s))

    async def _await_new(self, alarm: str, kind: str, before: int, timeout_s: float) -> None:
        """Until either client got a `kind` event of `alarm` beyond the `before` it had."""
        assert self._gateway is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        arrived = self._arrived[alarm]
        while True:
            arrived.clear()
            if len(self._seen[alarm, kind]) > before:
                return
            self._gateway.check_running()
            left = deadline - loop.time()
            if left <= 0:
                self.timeouts += 1
                logger.warning("alarm %r: no %s event at either client within %.0f s",
                               alarm, kind, timeout_s)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), min(left, _WAKE_S))

    async def _wait_delivered(self, expected: int, grace_s: float = 10.0) -> None:
        """Let the last transitions reach the client that has not had them yet."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if all(_driven(transitions) >= 2 * expected
                   for transitions in (self.mqtt, self.opcua)):
                return
            await asyncio.sleep(0.05)

    def _on_mqtt(self, received: Received) -> None:
        if received.topic == self._topics.status:
            self._online = received.payload == ONLINE
            return
        transition, seq = mqtt_transition(received.t, received.payload)
        self.mqtt.append(transition)
        self.mqtt_seqs.append(seq)
        self._saw(transition)

    def _on_opcua(self, event: ConditionEvent) -> None:
        transition = Transition(event.alarm, self._flips.kind(event.alarm, event.active),
                                event.event_id, event.time_s, event.t)
        self.opcua.append(transition)
        self._saw(transition)

    def _saw(self, transition: Transition) -> None:
        if transition.kind in DRIVEN:
            self._seen[transition.alarm, transition.kind].add(transition.event_id)
            self._arrived[transition.alarm].set()

    def _scan_log(self, line: str) -> None:
        match = _PROBLEM.match(line)
        if match is None:
            return
        if match.group(1) == "WARNING":
            self._warnings += 1
        else:
            self._errors += 1
        if len(self._problems) < _PROBLEMS_KEPT:
            self._problems.append(line)

    def _figures(self, model: BenchModel, startup_s: float, run_s: float, cpu_pct: float,
                 rss: list[float], load_average: tuple[float, float]) -> LatencyFigures:
        o = self.options
        expected = o.assets * o.cycles
        mqtt_ids = {t.event_id for t in self.mqtt if t.kind in DRIVEN}
        opcua_ids = {t.event_id for t in self.opcua if t.kind in DRIVEN}
        return LatencyFigures(
            assets=o.assets, cycles=o.cycles, interval_s=o.interval_s,
            poll_interval_s=o.poll_interval_s, publishing_interval_ms=o.publishing_interval_ms,
            window_rows=model.window_rows, normal_score=model.normal_score,
            disturbed_score=model.disturbed_score, limit=model.limit,
            startup_s=startup_s, run_s=run_s, timeouts=self.timeouts,
            gateway_cpu_pct=cpu_pct, gateway_rss_mib_max=max(rss, default=0.0),
            gateway_warnings=self._warnings, gateway_errors=self._errors,
            gateway_problems=list(self._problems), load_average=load_average,
            mqtt=channel_figures("mqtt", self.mqtt, expected, self.far_writes),
            opcua=channel_figures("opcua", self.opcua, expected, self.far_writes),
            mqtt_seq=seq_check(self.mqtt_seqs, max(self.mqtt_seqs, default=0)),
            only_mqtt=len(mqtt_ids - opcua_ids), only_opcua=len(opcua_ids - mqtt_ids),
        )

    async def _close(self) -> None:
        if self._events is not None:
            await self._events.close()
        if self._collector is not None:
            await self._collector.stop()
        await self.children.aclose()


def _driven(transitions: Sequence[Transition]) -> int:
    return len({t.event_id for t in transitions if t.kind in DRIVEN})


async def _sample_rss(process: psutil.Process, rss: list[float]) -> None:
    """The gateway's resident set (MiB), once a second until cancelled."""
    while True:
        rss.append(process.memory_info().rss / 2**20)
        await asyncio.sleep(1.0)
