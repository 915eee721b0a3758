"""The history export's cost (issue #16): the gateway's CPU with `[export.clickhouse]`
next to the same gateway without it.

    .venv/bin/python bench/clickhouse_export.py [--runs 2] [--duration 60]

Each run is bench/poll.py's (10 devices x 1000 tags polled every 1 s, 10 % of the tags
changing a second, the node-opcua subscriber on every tag, the history on as shipped),
once without and once with the export to a clickhouse-server this bench starts on free
ports (tests/gateway/export/clickhouse_server.py, its own data folder), the two
alternating so that the machine's other load falls on both. Prints the gateway's CPU of
every run, the medians, their difference (target: at most 5 percentage points) and the
rows ClickHouse holds at the end.
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
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's tests package

from children import add_run_options, end_on_signals, exit_code_of  # noqa: E402
from opcua_subscriber import ensure_installed  # noqa: E402
from poll import Bench, Options  # noqa: E402

from gateway.export import schema  # noqa: E402
from tests.gateway.export.clickhouse_server import ClickhouseServer  # noqa: E402

logger = logging.getLogger("bench.clickhouse_export")

TARGET_PP = 5.0  # percentage points of one core more with the export
DATABASE, TABLE = "bench", "history"


def _options(args: argparse.Namespace, extra: str, label: str) -> Options:
    return Options(
        scenario=f"export {label}", devices=10, tags=1000, change=0.1,
        duration_s=args.duration, warmup_s=5.0, warmup_max_s=60.0, poll_interval_s=1.0,
        timeout_s=1.0, publishing_interval_ms=10.0, devices_per_process=50,
        startup_timeout_s=180.0, gateway_command=shlex.split(args.gateway_command),
        opcua_port=0, keep_files=args.keep_files, history=True, extra_toml=extra)


async def _measure(args: argparse.Namespace, work_dir: Path, benches: list[Bench]) -> int:
    end_on_signals()
    clickhouse = ClickhouseServer(work_dir / "clickhouse")
    await clickhouse.start()
    try:
        await clickhouse.query(schema.create_database(DATABASE))
        await clickhouse.query(schema.create_table(DATABASE, TABLE))
        export = (f"[export.clickhouse]\nurl = {json.dumps(clickhouse.url)}\n"
                  f'database = "{DATABASE}"\ntable = "{TABLE}"\n')
        cpu: dict[str, list[float]] = {"without": [], "with": []}
        for run in range(args.runs):
            for label, extra in (("without", ""), ("with", export)):
                bench = Bench(_options(args, extra, label),
                              Path(tempfile.mkdtemp(prefix=f"{label}-{run}-", dir=work_dir)))
                benches.append(bench)
                try:
                    figures = await bench.run()
                finally:
                    await bench.children.aclose()
                cpu[label].append(figures.cpu_pct)
                logger.info("run %d %s export: gateway CPU %.1f %%, %.0f changes/s", run,
                            label, figures.cpu_pct, figures.changes_per_s)
        rows = int(await clickhouse.query(f"SELECT count() FROM {DATABASE}.{TABLE}"))  # noqa: S608 - the bench's constants
    finally:
        await clickhouse.stop()
    without, with_export = (statistics.median(cpu[k]) for k in ("without", "with"))
    more = with_export - without
    print(f"10 devices x 1000 tags at 1 s, 10 % changing; {args.runs} run(s) of "
          f"{args.duration:g} s each way")
    for label in ("without", "with"):
        runs = " / ".join(f"{v:.1f}" for v in cpu[label])
        print(f"gateway CPU {label:<7} export: median {statistics.median(cpu[label]):5.1f} %"
              f"  runs {runs}")
    met = more <= TARGET_PP
    print(f"difference: {more:+.1f} percentage points (target <= {TARGET_PP:g}): "
          f"{'ok' if met else 'MISSED'}; rows in ClickHouse at the end: {rows}")
    print(json.dumps({"bench": "uvelka-clickhouse-export", "cpu_pct": cpu,
                      "difference_pp": round(more, 2), "rows": rows}))
    return 0 if met else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The gateway's CPU with and without the "
                                                 "ClickHouse export (see bench/README.md).")
    parser.add_argument("--runs", type=int, default=2, help="runs each way (default 2)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="measurement window of each run, s (default 60)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration < 1.0:
        parser.error("need runs >= 1 and duration >= 1 s")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    ensure_installed()
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-clickhouse-export-"))
    benches: list[Bench] = []

    def cleanup(finished: bool) -> None:
        for bench in benches:
            bench.children.kill_all()
        if finished and not args.keep_files:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            logger.info("configs and logs kept in %s", work_dir)

    return exit_code_of(_measure(args, work_dir, benches), cleanup)


if __name__ == "__main__":
    sys.exit(main())
