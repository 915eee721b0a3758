"""`uvelka`: the command line (`python -m gateway`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from analytics.commands import add_evaluate_command, add_train_command
from drivers.modbus.simulator import run_simulator
from gateway.app import Gateway, run_until_signalled
from gateway.cli.demo import DEMO_HELP, add_demo_arguments, demo_jobs
from gateway.cli.demo_broker import BrokerUnavailable
from gateway.cli.export import add_export_command
from gateway.cli.healthcheck import endpoint_accepts
from gateway.cli.history_export import add_history_command
from gateway.cli.history_source import add_history_source
from gateway.cli.pki import add_pki_command
from gateway.cli.report import add_report_command
from gateway.cli.simulate import (
    add_simulator_arguments,
    record_simulation,
    repair_simulated,
    simulator_options,
)
from gateway.cli.users import add_users_command
from gateway.cli.web_key import add_web_command
from gateway.config import ConfigError, load_config
from gateway.config.loader import checked_file
from gateway.config.opcua_security import explain_security

logger = logging.getLogger("gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uvelka", description="Edge gateway for predictive maintenance: Modbus in, OPC UA out."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the gateway with a configuration file")
    run.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)

    simulate = commands.add_parser(
        "simulate", help="serve simulated pumps over Modbus TCP, or record one to CSV"
    )
    add_simulator_arguments(simulate)
    simulate.add_argument("--record", type=Path, metavar="FILE",
                          help="instead of serving, write a recording of pump 1 to FILE (CSV)")
    simulate.add_argument("--rows", type=int, default=2000, help="rows to record (default 2000)")
    simulate.add_argument("--no-truth", action="store_true",
                          help="record only the signals, not the simulator's ground truth")
    simulate.add_argument("--sample-s", type=float, default=60.0,
                          help="simulated seconds between recorded rows (default 60: the demo "
                               "samples once a second at speed-up 60)")

    demo = commands.add_parser("demo", help=DEMO_HELP)
    add_simulator_arguments(demo, speedup=60.0, devices=False)
    add_demo_arguments(demo)

    health = commands.add_parser(
        "healthcheck", help="exit 0 when the gateway's OPC UA endpoint accepts connections"
    )
    health.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")
    add_history_source(*add_train_command(commands))
    add_evaluate_command(commands)
    add_history_command(commands)
    add_export_command(commands)
    add_report_command(commands)
    add_pki_command(commands)
    add_users_command(commands)
    add_web_command(commands)
    return parser


def _check_config(path: Path) -> int:
    config, problems = checked_file(path)
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        print(f"{path}: OK" + (f" ({len(problems)} warnings)" if problems else ""))
    if config is not None:
        for line in explain_security(config.opcua):
            print(f"{path}: {line}")
    return 1 if errors else 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if level != "DEBUG":
        # asyncua's INFO is a play-by-play of every standard node it loads; pymodbus logs an
        # ERROR for every timeout and late answer, which our driver already reports once
        # per link transition.
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level.upper())
    try:
        if args.command in ("train", "evaluate", "history", "report", "web", "pki", "users",
                            "export"):
            handler: Callable[[argparse.Namespace], int] = args.handler
            return handler(args)
        if args.command == "check-config":
            return _check_config(args.file)
        if args.command == "run":
            gateway = Gateway(load_config(args.config), config_file=args.config)
            asyncio.run(run_until_signalled(gateway.serve(), _show_first_admin(gateway)))
        elif args.command == "simulate" and args.record is not None:
            record_simulation(args)
        elif args.command == "simulate" and args.repair is not None:
            repair_simulated(args)
        elif args.command == "simulate":
            asyncio.run(run_until_signalled(run_simulator(simulator_options(args))))
        elif args.command == "demo":
            asyncio.run(run_until_signalled(*demo_jobs(args)))
        elif args.command == "healthcheck":
            return 0 if endpoint_accepts(load_config(args.config).opcua.endpoint) else 1
    except ConfigError as exc:
        # A model file that is refused at start does not end here: its asset starts
        # without that model, the rest runs (issue #17).
        print(exc, file=sys.stderr)
        return 2
    except ExceptionGroup as group:
        # A port taken, a serial device missing: say so in one line, not a traceback.
        failures = group.subgroup((OSError, BrokerUnavailable))
        if failures is None:
            raise
        for failure in _leaves(failures):
            print(f"uvelka: {failure}", file=sys.stderr)
        return 1
    return 0


async def _show_first_admin(gateway: Gateway) -> None:
    """Print the web page's generated admin password, once, to whoever started the gateway."""
    await gateway.started.wait()
    web = gateway.running.web
    if web is not None and web.first_admin_password is not None:
        print(f"uvelka: web page first start: user admin, password "  # noqa: T201
              f"{web.first_admin_password} (shown only now)", flush=True)


def _leaves(group: BaseExceptionGroup[Exception]) -> list[BaseException]:
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


if __name__ == "__main__":
    sys.exit(main())
