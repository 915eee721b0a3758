"""Alarm benchmark (issue #4): transition latency to MQTT and OPC UA, and outbox drain.

Run by hand; prints the figures with their targets (see bench/README.md):

    python bench/alarms.py                       # 20 assets x 15 cycles, then 100,000 messages
    python bench/alarms.py --skip-drain --assets 5 --cycles 5
    python bench/alarms.py --skip-latency --messages 20000 --json figures.json

Part 1 runs the gateway (`python -m gateway run -c FILE`) with simulated devices, a
mosquitto and two clients; part 2 a mosquitto, a raw paho publisher and the MQTT bridge
on a filled outbox, each in its own process. Every process it starts is stopped when it
ends, fails or is interrupted. Exit code: 0 every target met, 1 one missed, 2 the run
failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alarms_drain import DrainFigures, DrainOptions, run_drain
from alarms_latency import LatencyFigures, LatencyOptions, LatencyRun
from alarms_report import (
    as_json,
    drain_metrics,
    drain_table,
    drain_targets,
    judge,
    latency_metrics,
    latency_table,
    latency_targets,
)
from children import ChildProcesses, exit_code_of

from gateway.mqtt import MqttBridge

logger = logging.getLogger("bench.alarms")

# The drain is measured with the bridge's own default window, as gateway.app builds it.
BRIDGE_WINDOW = int(inspect.signature(MqttBridge).parameters["window"].default)


@dataclass
class Run:
    """What one invocation does, and every child process it started."""

    latency: LatencyOptions | None
    drain: DrainOptions | None
    work_dir: Path
    json_path: Path | None
    children: list[ChildProcesses]


async def _run(run: Run) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    # SIGTERM/SIGHUP end the run as Ctrl-C does: the task is cancelled, cleanup runs.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    verdicts: dict[str, bool] = {}
    latency: LatencyFigures | None = None
    drain: DrainFigures | None = None
    if run.latency is not None:
        part = LatencyRun(run.latency, run.work_dir)
        run.children.append(part.children)
        latency = await part.run()
        targets = latency_targets(run.latency.interval_s)
        judged = judge(targets, latency_metrics(latency))
        verdicts |= judged
        print(latency_table(latency, targets, judged), flush=True)
    if run.drain is not None:
        children = ChildProcesses(run.work_dir)
        run.children.append(children)
        try:
            drain = await run_drain(run.drain, children, run.work_dir)
        finally:
            await children.aclose()
        targets = drain_targets()
        judged = judge(targets, drain_metrics(drain))
        verdicts |= judged
        print(drain_table(drain, targets, judged), flush=True)
    if run.json_path is not None:
        run.json_path.write_text(json.dumps(as_json(latency, drain, verdicts), indent=1) + "\n",
                                 encoding="utf-8")
    return 0 if all(verdicts.values()) else 1


def _parse(argv: Sequence[str] | None) -> tuple[Run, bool]:
    parser = argparse.ArgumentParser(
        description="Alarm latency and outbox drain benchmark (see bench/README.md).")
    parser.add_argument("--assets", type=int, default=20,
                        help="assets, each on its own simulated device with one alarm")
    parser.add_argument("--cycles", type=int, default=15,
                        help="activations and clears driven per asset")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="the assets' scoring interval, s")
    parser.add_argument("--poll-interval", type=float, default=0.1, help="the devices', s")
    parser.add_argument("--publishing-interval-ms", type=float, default=10.0,
                        help="the OPC UA event subscription's")
    parser.add_argument("--messages", type=int, default=100_000,
                        help="messages queued in the outbox, and published raw")
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw paho then drain, this many times; the median ratio is judged")
    parser.add_argument("--skip-latency", action="store_true", help="only the drain")
    parser.add_argument("--skip-drain", action="store_true", help="only the latency")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="s from the gateway's start to every asset scored")
    parser.add_argument("--gateway-command", default=f"{shlex.quote(sys.executable)} -m gateway",
                        help='how to start the gateway ("run -c FILE" is appended)')
    parser.add_argument("--seed", type=int, default=7, help="training data and driver gaps")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (configs, logs, outbox) after a good run")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--log-level", default="INFO", help="the benchmark's own log level")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if args.log_level.upper() != "DEBUG":
        # asyncua's client logs every publish response at INFO.
        logging.getLogger("asyncua").setLevel(logging.WARNING)
    if args.skip_latency and args.skip_drain:
        parser.error("--skip-latency and --skip-drain leave nothing to run")
    if not (args.assets >= 1 and args.cycles >= 1 and args.interval > 0
            and args.poll_interval > 0 and args.messages >= 1 and args.rounds >= 1):
        parser.error("need --assets, --cycles, --messages, --rounds >= 1 and positive intervals")
    latency = None if args.skip_latency else LatencyOptions(
        assets=args.assets, cycles=args.cycles, interval_s=args.interval,
        poll_interval_s=args.poll_interval, publishing_interval_ms=args.publishing_interval_ms,
        startup_timeout_s=args.startup_timeout,
        gateway_command=shlex.split(args.gateway_command), seed=args.seed)
    drain = None if args.skip_drain else DrainOptions(args.messages, BRIDGE_WINDOW, args.rounds)
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-bench-alarms-"))
    return Run(latency, drain, work_dir, args.json, []), args.keep


def main(argv: Sequence[str] | None = None) -> int:
    run, keep = _parse(argv)

    def cleanup(finished: bool) -> None:
        # Whatever a second Ctrl-C kept the parts' cleanup from stopping dies here.
        for children in run.children:
            children.kill_all()
        if finished and not keep:
            shutil.rmtree(run.work_dir, ignore_errors=True)
        else:
            logger.info("configs and logs kept in %s", run.work_dir)

    return exit_code_of(_run(run), cleanup)


if __name__ == "__main__":
    sys.exit(main())
