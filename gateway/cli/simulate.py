"""Command-line options of the simulated plant (`uvelka simulate`, `uvelka demo`)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from drivers.modbus.simulator import SimulatorOptions
from drivers.plant.pump import Scenario
from drivers.plant.recording import record

# Recordings start at a fixed time so that the same seed gives the same file.
RECORDING_START = datetime(2026, 1, 1, tzinfo=UTC)

_DEFAULTS = SimulatorOptions()


def add_simulator_arguments(
    parser: argparse.ArgumentParser, *, speedup: float = 1.0, devices: bool = True
) -> None:
    """The simulator's options; the demo fixes devices and ports to match its configuration."""
    if devices:
        parser.add_argument("--devices", type=int, default=_DEFAULTS.devices,
                            help="how many pumps (default %(default)s)")
        parser.add_argument("--host", default=_DEFAULTS.host,
                            help="address to listen on (default %(default)s)")
        parser.add_argument("--port", type=int, default=_DEFAULTS.base_port,
                            help="port of the first pump; pump i listens on port+i "
                                 "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                        help="random seed; the same seed gives the same plant "
                             "(default %(default)s)")
    parser.add_argument("--speedup", type=float, default=speedup,
                        help="simulated seconds per wall second (default %(default)s)")
    parser.add_argument("--life-hours", type=float, default=_DEFAULTS.life_hours,
                        help="bearing life in simulated hours (default %(default)s)")


def record_simulation(args: argparse.Namespace) -> None:
    """`uvelka simulate --record FILE`: a deterministic recording of pump 1, no network."""
    options = simulator_options(args)
    scenario = Scenario(life_hours=options.life_hours, repair_after_h=options.repair_after_h)
    with args.record.open("w", encoding="utf-8", newline="") as out:
        record(out, args.rows, args.sample_s, options.seed, scenario, RECORDING_START,
               truth=not args.no_truth)


def simulator_options(args: argparse.Namespace, **fixed: int | str) -> SimulatorOptions:
    """Options from parsed arguments; `fixed` overrides (the demo's devices and ports)."""
    chosen: dict[str, int | str | float] = {
        "seed": args.seed, "speedup": args.speedup, "life_hours": args.life_hours,
    }
    for name, attribute in (("devices", "devices"), ("host", "host"), ("base_port", "port")):
        if hasattr(args, attribute):
            chosen[name] = getattr(args, attribute)
    chosen.update(fixed)
    options = SimulatorOptions(**chosen)  # type: ignore[arg-type]
    problems = options.problems()
    if problems:
        raise SystemExit("uvelka: " + "; ".join(problems))
    return options
