"""A plant's worth of gateways on one machine (issue #16, docs/fleet.md): N gateway
processes, each polling one simulated device, publishing Sparkplug B to one mosquitto and
exporting their history to one ClickHouse.

    .venv/bin/python bench/fleet.py [--gateways 20] [--tags 100] [--duration 60]

Each gateway is `uvelka run` with its own name (gw00, gw01, ...; the Sparkplug edge node
id), one device of `--tags` holding-register tags polled every 1 s with 10 % changing a
second (bench/fast_devices.py, all devices in one process), `[sparkplug]` in group Line1
on the broker, and `[export.clickhouse]` to a clickhouse-server started on free ports
(tests/gateway/export/clickhouse_server.py); the local history is off. Once every edge
node published DDATA and every gateway's rows are in ClickHouse, it measures for
`--duration` s: Sparkplug messages a second a subscriber on spBv1.0/# receives, the CPU of
mosquitto, of ClickHouse and of all gateways together (percent of one core), and the rows
a second ClickHouse took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's tests package

from alarms_broker import MqttCollector, start_mosquitto  # noqa: E402
from children import ChildProcesses, add_run_options, end_on_signals, exit_code_of  # noqa: E402
from gateway_config import BenchDevice, render_config  # noqa: E402
from tag_layout import tag_layout  # noqa: E402

from gateway.export import schema  # noqa: E402
from tests.gateway.export.clickhouse_server import ClickhouseServer  # noqa: E402

logger = logging.getLogger("bench.fleet")

FAST_DEVICES = Path(__file__).resolve().parent / "fast_devices.py"
DATABASE, TABLE = "plant", "history"
GROUP = "Line1"
START_S = 300.0  # for every gateway to publish and export, on a loaded machine


def _cpu_s(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(1.0)


async def _device_ports(children: ChildProcesses, gateways: int, tags: int) -> list[int]:
    ports: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()

    def line(text: str) -> None:
        message = json.loads(text)
        if "ports" in message and not ports.done():
            ports.set_result(message["ports"])

    await children.start("devices", [sys.executable, str(FAST_DEVICES), "--devices",
                                     str(gateways), "--tags", str(tags), "--change", "0.1"],
                         on_stdout=line, leaves_on_eof=True)
    return await asyncio.wait_for(ports, 60.0)


async def _measure(args: argparse.Namespace, work_dir: Path, children: ChildProcesses) -> int:
    end_on_signals()
    clickhouse = ClickhouseServer(work_dir / "clickhouse")
    await clickhouse.start()
    try:
        await clickhouse.query(schema.create_database(DATABASE))
        await clickhouse.query(schema.create_table(DATABASE, TABLE))
        broker = await start_mosquitto(children, work_dir, "mosquitto")
        subscriber = MqttCollector(broker.port, ["spBv1.0/#"])
        await subscriber.start()
        ports = await _device_ports(children, args.gateways, args.tags)
        specs = tag_layout(args.tags)
        names = [f"gw{i:02d}" for i in range(args.gateways)]
        gateway_pids = []
        for name, port in zip(names, ports, strict=True):
            extra = (f'[sparkplug]\ngroup_id = "{GROUP}"\n'
                     f'broker = {{ url = "mqtt://127.0.0.1:{broker.port}" }}\n\n'
                     f'[export.clickhouse]\nurl = "{clickhouse.url}"\n'
                     f'database = "{DATABASE}"\ntable = "{TABLE}"\n')
            folder = work_dir / name
            folder.mkdir()
            config = folder / "gateway.toml"
            config.write_text(render_config(
                endpoint="opc.tcp://127.0.0.1:0/uvelka", namespace="urn:uvelka:bench",
                devices=[BenchDevice(f"d{port}", port)], specs=specs, poll_interval_s=1.0,
                timeout_s=1.0, data_dir=folder / "data", history=False, extra=extra,
                name=name), encoding="utf-8")
            child = await children.start(
                name, [*shlex.split(args.gateway_command), "--log-level", "WARNING", "run", "-c",
                       str(config)])
            gateway_pids.append(child.process.pid)

        async def all_publishing() -> bool:
            seen = {r.topic.split("/")[3] for r in subscriber.received if "/DDATA/" in r.topic}
            return seen >= set(names)

        async def all_exporting() -> bool:
            text = await clickhouse.query(f"SELECT DISTINCT gateway FROM {DATABASE}.{TABLE}")  # noqa: S608 - the bench's constants
            return set(text.split()) >= set(names)

        started = time.monotonic()
        await _until("DDATA from every edge node", all_publishing, START_S)
        await _until("rows from every gateway", all_exporting, START_S)
        logger.info("%d gateways publishing and exporting after %.0f s", args.gateways,
                    time.monotonic() - started)
        await asyncio.sleep(5.0)  # warm-up
        count = f"SELECT count() FROM {DATABASE}.{TABLE}"  # noqa: S608 - the bench's constants
        subscriber.take()
        rows0 = int(await clickhouse.query(count))
        server_pid = clickhouse.pid
        cpu0 = (_cpu_s([broker.child.process.pid]), _cpu_s([server_pid]), _cpu_s(gateway_pids))
        t0 = time.monotonic()
        await asyncio.sleep(args.duration)
        cpu1 = (_cpu_s([broker.child.process.pid]), _cpu_s([server_pid]), _cpu_s(gateway_pids))
        window = time.monotonic() - t0
        messages = subscriber.take()
        rows1 = int(await clickhouse.query(count))
        await subscriber.stop()
    finally:
        await children.aclose()
        await clickhouse.stop()
    kinds = Counter(r.topic.split("/")[2] for r in messages)
    broker_pct, clickhouse_pct, gateways_pct = (
        100.0 * (b - a) / window for a, b in zip(cpu0, cpu1, strict=True))
    figures = {
        "gateways": args.gateways, "tags_per_gateway": args.tags, "window_s": round(window, 1),
        "sparkplug_messages_per_s": round(len(messages) / window, 1),
        "by_type": dict(kinds), "broker_cpu_pct": round(broker_pct, 1),
        "clickhouse_cpu_pct": round(clickhouse_pct, 1),
        "gateways_cpu_pct": round(gateways_pct, 1),
        "rows_per_s": round((rows1 - rows0) / window, 1),
    }
    print(f"{args.gateways} gateways x 1 device x {args.tags} tags at 1 s, 10 % changing; "
          f"window {window:.0f} s")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps({"bench": "uvelka-fleet", **figures}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="N gateways, one broker, one ClickHouse "
                                                 "(see bench/README.md).")
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--tags", type=int, default=100, help="tags per gateway")
    parser.add_argument("--duration", type=float, default=60.0, help="measurement window, s")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.gateways < 1 or args.tags < 1 or args.duration < 1.0:
        parser.error("need gateways >= 1, tags >= 1, duration >= 1 s")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-fleet-"))
    children = ChildProcesses(work_dir)

    def cleanup(finished: bool) -> None:
        children.kill_all()
        if finished and not args.keep_files:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            logger.info("configs and logs kept in %s", work_dir)

    return exit_code_of(_measure(args, work_dir, children), cleanup)


if __name__ == "__main__":
    sys.exit(main())
