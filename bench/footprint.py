"""The gateway's footprint (issue #10): resident memory and start-up, next to each other.

Run by hand; each run is `bench/poll.py`'s (simulated devices, the real gateway, one
node-opcua subscriber on every tag), repeated `--runs` times so the spread shows:

    python bench/footprint.py                    # both shapes: a first start, 2 more each
    python bench/footprint.py --runs 1 --gateway-command \\
        "env PYTHONPATH=/tmp/before .venv/bin/python -P -m gateway"   # another tree

- 10k tags: 10 devices x 1000 tags with the defaults a user gets (history on) and the
  web page on: the gateway's RSS, the most over the window;
- one tag: one device with one tag, no assets, history on, no web page: its RSS, and the
  seconds from the gateway's process start until its OPC UA port accepts a connection.

Each shape's runs share one work folder (its data_dir): a first start, which builds what a
gateway caches there (asyncua's standard address space, gateway.opcua.standard_nodes),
is measured and printed apart, then `--runs` later starts, which the targets judge (a
gateway starts from its data_dir every time but the first).

`-P` in the example keeps the repository's own folder (the gateway's working folder) off
sys.path, so PYTHONPATH decides which tree's gateway runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from children import exit_code_of
from opcua_subscriber import ensure_installed
from poll import Bench, Options
from report import Figures, Target

logger = logging.getLogger("bench.footprint")


@dataclass(frozen=True)
class Shape:
    """One gateway configuration measured, and the figures taken from each of its runs."""

    name: str
    devices: int
    tags: int
    web: bool
    figures: tuple[tuple[str, Callable[[Figures], float], Target], ...]


SHAPES = (
    Shape("10k tags", 10, 1000, web=True, figures=(
        ("RSS max (MiB)", lambda f: f.rss_mib_max, Target("rss_10k_mib", 200.0)),
    )),
    Shape("one tag", 1, 1, web=False, figures=(
        ("RSS max (MiB)", lambda f: f.rss_mib_max, Target("rss_one_tag_mib", 110.0)),
        ("start to OPC UA port (s)", lambda f: f.startup_port_s,
         Target("port_one_tag_s", 1.5)),
    )),
)


def _options(shape: Shape, args: argparse.Namespace) -> Options:
    return Options(
        scenario=f"footprint {shape.name}", devices=shape.devices, tags=shape.tags,
        change=0.1, duration_s=args.duration, warmup_s=5.0, warmup_max_s=60.0,
        poll_interval_s=1.0, timeout_s=1.0, publishing_interval_ms=10.0,
        devices_per_process=50, startup_timeout_s=180.0,
        gateway_command=shlex.split(args.gateway_command), opcua_port=0,
        keep_files=args.keep_files, history=True, web=shape.web,
    )


async def _measure(args: argparse.Namespace, work_root: Path, benches: list[Bench]) -> int:
    """Every shape `--runs` times, one after the other; prints the table and a JSON line.

    Each run's Bench is appended to `benches`, for the last-resort cleanup."""
    values: dict[str, list[float]] = {}
    rows: list[tuple[str, Target]] = []
    first_starts: dict[str, float] = {}
    for shape in SHAPES:
        for label, _, target in shape.figures:
            rows.append((f"{shape.name}: {label}", target))
            values[target.metric] = []
        work_dir = Path(tempfile.mkdtemp(prefix=f"{shape.devices}x{shape.tags}-", dir=work_root))
        for run in range(args.runs + 1):
            bench = Bench(_options(shape, args), work_dir)
            benches.append(bench)
            try:
                figures = await bench.run()
            finally:
                await bench.children.aclose()
            for _, take, target in shape.figures:
                if run == 0:
                    first_starts[f"{shape.name}: {target.metric}"] = take(figures)
                else:
                    values[target.metric].append(take(figures))
            logger.info("%s, %s: %s", shape.name, f"run {run}" if run else "first start",
                        ", ".join(f"{label} {take(figures):.2f}"
                                  for label, take, _ in shape.figures))
    width = max(len(name) for name, _ in rows)
    print(f"gateway: {args.gateway_command}; {args.runs} run(s) each, window {args.duration:g} s")
    met = True
    for name, target in rows:
        found = values[target.metric]
        ok = target.met(max(found) if target.at_most else min(found))
        met = met and ok
        runs = " / ".join(f"{v:.2f}" for v in found)
        print(f"{name:<{width}}  median {statistics.median(found):8.2f}  runs {runs}"
              f"  target {target}: {'ok' if ok else 'MISSED'}")
    print("first start of a data_dir (not judged): " + ", ".join(
        f"{name} {value:.2f}" for name, value in first_starts.items()))
    print(json.dumps({"bench": "uvelka-footprint", "gateway_command": args.gateway_command,
                      **values, "first_start": first_starts}))
    return 0 if met else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The gateway's RSS and start-up "
                                                 "(see bench/README.md).")
    parser.add_argument("--runs", type=int, default=2,
                        help="runs of each shape after its first start (default 2)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="measurement window of each run, s (RSS sampled each s)")
    parser.add_argument("--gateway-command", default=f"{shlex.quote(sys.executable)} -m gateway",
                        help='how to start the gateway ("run -c FILE" is appended)')
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the work folder (configs, logs) even after good runs")
    parser.add_argument("--log-level", default="INFO", help="the benchmark's own log level")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration < 1.0:
        parser.error("need runs >= 1 and duration >= 1 s")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    ensure_installed()
    work_root = Path(tempfile.mkdtemp(prefix="uvelka-footprint-"))
    benches: list[Bench] = []

    def cleanup(finished: bool) -> None:
        # Whatever a second Ctrl-C kept `aclose` from stopping dies here.
        for bench in benches:
            bench.children.kill_all()
        if finished and not args.keep_files:
            shutil.rmtree(work_root, ignore_errors=True)
        else:
            logger.info("configs and logs kept in %s", work_root)

    return exit_code_of(_measure(args, work_root, benches), cleanup)


if __name__ == "__main__":
    sys.exit(main())
