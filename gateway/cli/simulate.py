"""Command-line options of the simulated plant (`uvelka simulate`, `uvelka demo`)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from drivers.base import DriverError
from drivers.modbus import DRIVER as MODBUS
from drivers.modbus.simulator import REGISTER_MAP, SimulatorOptions
from drivers.plant.demo import DEMO_SCENARIOS
from drivers.plant.pump import Scenario
from drivers.plant.recording import record

# Recordings start at a fixed time so that the same seed gives the same file.
RECORDING_START = datetime(2026, 1, 1, tzinfo=UTC)
REPAIR_TIMEOUT_S = 5.0

_DEFAULTS = SimulatorOptions()
_REPAIR = next(tag for tag in REGISTER_MAP if tag.key == "maintenance_reset")


def add_simulator_arguments(
    parser: argparse.ArgumentParser, *, speedup: float = 1.0, devices: bool = True
) -> None:
    """The simulator's options; the demo fixes devices, ports and its plant."""
    if devices:
        parser.add_argument("--devices", type=int, default=_DEFAULTS.devices,
                            help="how many pumps (default %(default)s)")
        parser.add_argument("--host", default=_DEFAULTS.host,
                            help="address to listen on (default %(default)s)")
        parser.add_argument("--port", type=int, default=_DEFAULTS.base_port,
                            help="port of the first pump; pump i listens on port+i "
                                 "(default %(default)s)")
        parser.add_argument("--demo-plant", action="store_true",
                            help="the first pumps are the demo's: healthy, a bad bearing, "
                                 "wearing (docs/simulator.md)")
        parser.add_argument("--life-hours", type=float, default=_DEFAULTS.life_hours,
                            help="bearing life in simulated hours (default %(default)s)")
        parser.add_argument("--repair", type=int, metavar="N",
                            help="serve nothing: repair pump N (1-based) of a running "
                                 "simulator, as writing its maintenance_reset coil does")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                        help="random seed; the same seed gives the same plant "
                             "(default %(default)s)")
    parser.add_argument("--speedup", type=float, default=speedup,
                        help="simulated seconds per wall second (default %(default)s)")


def record_simulation(args: argparse.Namespace) -> None:
    """`uvelka simulate --record FILE`: a deterministic recording of pump 1, no network."""
    options = simulator_options(args)
    scenario = Scenario(life_hours=options.life_hours, repair_after_h=options.repair_after_h)
    with args.record.open("w", encoding="utf-8", newline="") as out:
        record(out, args.rows, args.sample_s, options.seed, scenario, RECORDING_START,
               truth=not args.no_truth)


def simulator_options(
    args: argparse.Namespace, *, demo_plant: bool = False, **fixed: int | str
) -> SimulatorOptions:
    """Options from parsed arguments; `fixed` overrides (the demo's devices and ports), and
    `demo_plant` (or --demo-plant) runs the demo's pumps."""
    chosen: dict[str, object] = {"seed": args.seed, "speedup": args.speedup}
    for name, attribute in (("devices", "devices"), ("host", "host"), ("base_port", "port"),
                            ("life_hours", "life_hours")):
        if hasattr(args, attribute):
            chosen[name] = getattr(args, attribute)
    if demo_plant or getattr(args, "demo_plant", False):
        chosen["scenarios"] = DEMO_SCENARIOS
    chosen.update(fixed)
    options = SimulatorOptions(**chosen)  # type: ignore[arg-type]
    problems = options.problems()
    if problems:
        raise SystemExit("uvelka: " + "; ".join(problems))
    return options


async def repair_pump(host: str, port: int, unit: int = 1) -> None:
    """Repair the simulated pump at host:port: write true to its maintenance_reset coil,
    the way a maintenance crew's reset reaches the drive (a new bearing, any trip cleared)."""
    settings = MODBUS.settings(MODBUS.link(f"modbus-tcp://{host}:{port}"), unit, REPAIR_TIMEOUT_S)
    try:
        async with MODBUS.open(settings) as connection:
            await MODBUS.write(connection, _REPAIR, True)
    except DriverError as exc:
        raise SystemExit(f"uvelka: repair of the pump at {host}:{port}: {exc}") from None


def repair_simulated(args: argparse.Namespace) -> None:
    """`uvelka simulate --repair N`: repair pump N of a simulator serving on --host/--port."""
    if args.repair < 1:
        raise SystemExit(f"uvelka: --repair: pumps are numbered from 1 (got {args.repair})")
    asyncio.run(repair_pump(args.host, args.port + args.repair - 1))
