"""`uvelka history export`: the history file of a data_dir as the CSV `uvelka train` reads,
on stdout, offline (gateway.store.history_export, the same CSV as the page's export).

It opens the file read-only: a gateway may be running on the same data_dir and goes on
writing meanwhile. Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from gateway.store.history_export import (
    FILE_NAME,
    ExportError,
    check_range,
    columns_of,
    csv_text,
    open_read_only,
)

EXIT_ERROR = 2


def add_history_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `history export` to the CLI's subcommands; handler: `args.handler`."""
    history = commands.add_parser("history", help="read the gateway's tag history")
    actions = history.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write keys' history as CSV (the shape `uvelka train` reads) to stdout",
        description=(
            "Write the history of --keys over [--from, --to) as CSV to stdout: a time column,"
            " then one column per key. Without --step, every stored point (one row per"
            " distinct time); with --step, one row per step holding each key's mean, or its"
            " value held while unchanged, empty in an outage (docs/web.md). Reads"
            " DIR/history.sqlite read-only, so a gateway may be running. Times without a UTC"
            " offset are UTC."
        ),
    )
    export.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="the gateway's data_dir (holding history.sqlite)",
    )
    export.add_argument(
        "--keys",
        required=True,
        metavar="KEY[,KEY...]",
        help="comma-separated keys (pump1.flow, pump1.AnomalyScore); NAME=KEY"
        " names the column, e.g. flow=pump1.flow for a model's input",
    )
    export.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="ISO",
        help="start time, ISO 8601 (e.g. 2026-12-07T08:00:00+00:00)",
    )
    export.add_argument(
        "--to", dest="end", required=True, metavar="ISO", help="end time (not included), ISO 8601"
    )
    export.add_argument(
        "--step",
        type=float,
        metavar="S",
        help="seconds per row, each key's mean over it or its held value (e.g. the"
        " asset's interval); default: the stored points as they are",
    )
    export.set_defaults(handler=export_history)


def export_history(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Write the CSV to `out`; a problem is one line on stderr and exit status 2."""
    try:
        start, end = _time(args.start, "--from"), _time(args.end, "--to")
        step = None if args.step is None else _step(args.step)
        check_range(start, end, step)
        asyncio.run(_export(args.data_dir / FILE_NAME, args.keys.split(","), start, end, step, out))
    except ExportError as exc:
        sys.stderr.write(f"uvelka history export: {exc}\n")
        return EXIT_ERROR
    return 0


async def _export(
    path: Path,
    keys: list[str],
    start: datetime,
    end: datetime,
    step: timedelta | None,
    out: TextIO,
) -> None:
    async with open_read_only(path) as (reader, ids):
        columns = columns_of(keys, ids)
        async for text in csv_text(reader, ids, columns, start, end, step):
            out.write(text)


def _time(text: str, option: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{option}: expected an ISO 8601 time, got {text!r}") from None
    # As the page's API does: a time without an offset is UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _step(seconds: float) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # a NaN, or days beyond timedelta's range
        raise ExportError(f"--step: {seconds:g} s is out of range") from None
