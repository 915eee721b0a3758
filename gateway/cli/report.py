"""`uvelka report`: how each version of an asset's anomaly model agreed with the experts
(issue #12), offline, from a data_dir: the figures of the Models page's agreement view
(gateway.page.agreement; defined in analytics/README.md).

It reads the history read-only (SQLite mode=ro), the labels file through WAL (never
blocking a writer) and the model timeline without changing it, so a gateway may be running
on the same data_dir. Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gateway.page.agreement import (
    AGREEMENT_RANGE,
    AgreementError,
    default_range,
    read_agreement,
)
from gateway.store.history_export import ExportError
from gateway.store.labels import NotStored
from gateway.store.model_timeline import FILE_NAME, ModelTimeline

EXIT_ERROR = 2


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report` to the CLI's subcommands; handler: `args.handler`."""
    report = commands.add_parser(
        "report",
        help="how each version of an asset's anomaly model agreed with the experts",
        description=(
            "Per version of the asset's anomaly model, active and in shadow: alarm"
            " episodes, verdicts on them, recall on anomaly labels, false alarms per day"
            " and time to alarm (analytics/README.md, 'Agreement with the experts')."
            " Reads DIR read-only, so a gateway may be running. Times without a UTC"
            " offset are UTC."
        ),
    )
    report.add_argument("--asset", required=True, metavar="NAME", help="the asset")
    report.add_argument(
        "--data-dir", type=Path, required=True, metavar="DIR", help="the gateway's data_dir"
    )
    report.add_argument(
        "--from",
        dest="start",
        type=_iso_time,
        metavar="ISO",
        help="start (default: the asset's first recorded model, at most "
        f"{AGREEMENT_RANGE.days} days ago)",
    )
    report.add_argument(
        "--to", dest="end", type=_iso_time, metavar="ISO", help="end, not included (default: now)"
    )
    report.add_argument("--json", action="store_true", help="print JSON, not a table")
    report.set_defaults(handler=print_report)


def print_report(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Write the report to `out`; a problem is one line on stderr and exit status 2."""
    timeline = ModelTimeline.read(args.data_dir / FILE_NAME, set_aside=False)
    first, now = default_range(timeline, args.asset, datetime.now(UTC), AGREEMENT_RANGE)
    try:
        found = asyncio.run(
            read_agreement(
                args.data_dir, args.asset, timeline, args.start or first, args.end or now
            )
        )
    except (AgreementError, ExportError, NotStored) as exc:
        sys.stderr.write(f"uvelka report: {exc}\n")
        return EXIT_ERROR
    if args.json:
        json.dump(found, out, indent=1)
        out.write("\n")
    else:
        out.write(_table(found))
    return 0


def _table(found: dict[str, Any]) -> str:
    lines = [
        f"{found['asset']}: {found['from']} to {found['to']}",
        "role    version  scored_h  episodes  confirmed/false/unsure  recall  "
        "false_per_day  time_to_alarm_s",
    ]
    for v in found["versions"]:
        verdicts = v["verdicts"]
        lines.append(
            "  ".join(
                [
                    v["role"],
                    str(v["version"]),
                    f"{v['scored_s'] / 3600:.1f}",
                    str(v["episodes"]),
                    f"{verdicts['confirmed']}/{verdicts['false']}/{verdicts['unsure']}",
                    "-" if v["recall"] is None else f"{v['caught']}/{v['anomaly_labels']}",
                    "-"
                    if v["false_alarms_per_day"] is None
                    else f"{v['false_alarms_per_day']:.2f}",
                    ",".join(f"{s:.0f}" for s in v["time_to_alarm_s"]) or "-",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def _iso_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
