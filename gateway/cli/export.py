"""`uvelka export init-clickhouse -c FILE`: the ClickHouse database and table the gateway's
history goes to (issue #16); idempotent, so a fleet's gateways may each run it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway.config import load_config
from gateway.config.export import ClickhouseSection
from gateway.export import schema


def add_export_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="the history's copy in ClickHouse")
    actions = export.add_subparsers(dest="export_command", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init-clickhouse",
        help="create the [export.clickhouse] database and table if they are not there")
    init.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a ConfigError is uvelka's to print (exit 2)
    section = None if config.export is None else config.export.clickhouse
    if section is None:
        print(f"uvelka export: {args.config} has no [export.clickhouse] section")
        return 1
    # aiohttp's client only for this command: `uvelka run` without [web] never loads it
    # (tests/gateway/test_imports.py).
    from gateway.export.clickhouse import ClickhouseUnavailable  # noqa: PLC0415

    try:
        password = section.password()
        asyncio.run(_init(section, password))
    except (OSError, ClickhouseUnavailable) as exc:
        print(f"uvelka export: {section.url}: {exc}")
        return 1
    print(f"{section.url}: {section.database}.{section.table} is ready")
    return 0


async def _init(section: ClickhouseSection, password: str | None) -> None:
    from gateway.export.clickhouse import Clickhouse  # noqa: PLC0415

    async with Clickhouse.open(section, password) as clickhouse:
        await clickhouse.execute(schema.create_database(section.database))
        await clickhouse.execute(schema.create_table(section.database, section.table))
