"""The simulated plant behind `uvelka simulate`: centrifugal pumps served over Modbus TCP.

Each pump is one device on its own TCP port, as real devices sit on their own IP addresses,
served by a pymodbus server. A clock task steps every `PumpModel` in lockstep, `speedup`
simulated seconds per wall second; the register image is encoded from the latest reading
when a request arrives. The register map (`REGISTER_MAP`) is documented in
docs/simulator.md and mirrored by gateway/defaults/demo.toml.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, cast

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType as SimDataType
from pymodbus.simulator import SimAction, SimData, SimDevice

from drivers.base import ByteOrder, DataType, Table, Tag
from drivers.modbus.codec import encode, encode_bit_in_word
from drivers.plant.pump import DT_S, PumpModel, Scenario

if TYPE_CHECKING:
    from pymodbus.server import ModbusTcpServer

logger = logging.getLogger(__name__)

_IN, _HOLD, _COIL, _DISC = Table.INPUT, Table.HOLDING, Table.COIL, Table.DISCRETE

REGISTER_MAP: tuple[Tag, ...] = (
    Tag("vibration_rms", _IN, 0, DataType.FLOAT32),
    Tag("vibration_hf", _IN, 2, DataType.FLOAT32),
    Tag("motor_current", _IN, 4, DataType.FLOAT32),
    # Word-swapped on purpose: many flow transmitters send the low word first.
    Tag("flow", _IN, 6, DataType.FLOAT32, ByteOrder.CDAB),
    Tag("bearing_temperature", _IN, 8, DataType.INT16, scale=0.1),
    Tag("speed", _IN, 9, DataType.UINT16),
    Tag("at_setpoint", _IN, 10, DataType.BOOL, bit=0),
    Tag("low_suction_pressure", _IN, 10, DataType.BOOL, bit=1),
    Tag("high_vibration", _IN, 10, DataType.BOOL, bit=2),
    Tag("high_bearing_temperature", _IN, 10, DataType.BOOL, bit=3),
    Tag("fault_code", _IN, 11, DataType.UINT16),
    Tag("run_hours", _IN, 12, DataType.UINT32, scale=0.1),
    Tag("energy", _IN, 14, DataType.UINT64, scale=0.001),
    Tag("discharge_pressure", _HOLD, 0, DataType.FLOAT32),
    Tag("suction_pressure", _HOLD, 2, DataType.INT16, scale=0.01),
    Tag("speed_setpoint", _HOLD, 3, DataType.UINT16),
    Tag("device_name", _HOLD, 200, DataType.STRING, length=16),
    Tag("maintenance_reset", _COIL, 0, DataType.BOOL),
    Tag("demand_schedule", _COIL, 1, DataType.BOOL),
    Tag("running", _DISC, 0, DataType.BOOL),
    Tag("tripped", _DISC, 1, DataType.BOOL),
)
"""Every tag of a simulated pump; `key` is the tag name and the `PumpReading` field."""

WRITABLE_TAGS = frozenset({"speed_setpoint", "maintenance_reset", "demand_schedule"})

_TABLE_OF_FUNCTION: dict[int, Table] = {
    1: _COIL, 5: _COIL, 15: _COIL,
    2: _DISC,
    3: _HOLD, 6: _HOLD, 16: _HOLD, 22: _HOLD, 23: _HOLD,
    4: _IN,
}  # fmt: skip
_MIN_TICK_S = 0.02
_MAX_CATCH_UP_S = 1.0  # wall seconds of lag worked off at once before the clock gives up


@dataclass
class SimulatorOptions:
    """How many pumps, where they listen and how the simulation runs."""

    devices: int = 1
    host: str = "127.0.0.1"
    base_port: int = 5020
    """Pump i listens on base_port + i; 0 picks a free port for each (see `ports`)."""
    seed: int = 0
    speedup: float = 1.0
    """Simulated seconds per wall second; 0 pauses the clock (time passes by `advance`)."""
    life_hours: float = 12.0
    """Bearing life in simulated hours at rated speed."""
    unit_id: int = 1
    repair_after_h: float | None = 1.0
    """Simulated downtime before a tripped pump gets a new bearing; None: only on command."""
    scenarios: tuple[Scenario, ...] = ()
    """Pump i runs scenarios[i] when there is one (the demo's plant, drivers.plant.demo),
    instead of a seeded pump with `life_hours` and `repair_after_h`."""

    def problems(self) -> list[str]:
        """What is wrong with these options, one line per problem."""
        found = []
        if self.devices < 1:
            found.append(f"devices: must be at least 1 (got {self.devices})")
        if not 0 <= self.base_port <= 65535 - max(self.devices - 1, 0):
            found.append(f"base_port: {self.base_port} leaves no room for {self.devices} ports")
        if self.speedup < 0:
            found.append(f"speedup: must be 0 (paused) or positive (got {self.speedup})")
        if self.life_hours <= 0:
            found.append(f"life_hours: must be positive (got {self.life_hours})")
        if not 0 <= self.unit_id <= 255:
            found.append(f"unit_id: must be 0..255 (got {self.unit_id})")
        return found


class _PumpDevice:
    """One pump's Modbus face: encodes its reading on reads, turns writes into commands."""

    def __init__(self, model: PumpModel, name: str) -> None:
        self.model = model
        self.name = name
        self._tags: dict[Table, list[Tag]] = {table: [] for table in Table}
        for tag in REGISTER_MAP:
            self._tags[tag.table].append(tag)
        self._coils = {tag.address: tag for tag in self._tags[_COIL]}
        self._setpoint = next(tag for tag in REGISTER_MAP if tag.key == "speed_setpoint")

    def sim_devices(self, unit_id: int) -> list[SimDevice]:
        """The pymodbus devices: the pump at `unit_id`, and a stand-in for any other unit."""
        devices = [self._sim_device(unit_id, self.on_request)]
        if unit_id != 0:
            # pymodbus routes any other unit to id 0 and fails with a KeyError when there is
            # none; answer as a Modbus TCP gateway does for an absent unit instead.
            devices.append(self._sim_device(0, _absent_unit))
        return devices

    def _sim_device(self, unit_id: int, action: SimAction) -> SimDevice:
        return SimDevice(
            id=unit_id,
            simdata=(
                self._sim_data(_COIL),
                self._sim_data(_DISC),
                self._sim_data(_HOLD),
                self._sim_data(_IN),
            ),
            action=action,
        )

    def _sim_data(self, table: Table) -> list[SimData]:
        if table.is_bit:
            return [
                SimData(tag.address, values=[False], datatype=SimDataType.BITS)
                for tag in self._tags[table]
            ]
        # Bits of one status register are several tags over one register.
        spans = {tag.address: tag for tag in self._tags[table]}
        return [
            SimData(
                address,
                values=[0] * tag.width,
                datatype=SimDataType.REGISTERS,
                readonly=tag.key not in WRITABLE_TAGS,
            )
            for address, tag in spans.items()
        ]

    async def on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        _count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus action hook: refresh the image on reads, apply commands on writes.

        `registers` is the whole block of the table, starting at `start_address` (in
        registers; coil and discrete bits are packed 16 to a register). pymodbus has already
        refused addresses outside the map and writes to read-only registers.
        """
        table = _TABLE_OF_FUNCTION[function_code]
        if values is not None:
            return self._write(table, address, values)
        if table.is_bit:
            self._fill_bits(table, start_address, registers)
        else:
            self._fill_registers(table, start_address, registers)
        return None

    def _value(self, tag: Tag) -> bool | int | float | str:
        if tag.key == "device_name":
            return self.name
        return cast(bool | int | float | str, getattr(self.model.reading, tag.key))

    def _fill_registers(self, table: Table, start: int, registers: list[int]) -> None:
        words: dict[int, int] = {}
        for tag in self._tags[table]:
            value = self._value(tag)
            if tag.bit is not None:
                words[tag.address] = encode_bit_in_word(tag, words.get(tag.address, 0), value)
            else:
                raw = cast(list[int], encode(tag, value))
                words.update(zip(range(tag.address, tag.end), raw, strict=True))
        for address, word in words.items():
            registers[address - start] = word

    def _fill_bits(self, table: Table, start: int, registers: list[int]) -> None:
        for tag in self._tags[table]:
            index, bit = divmod(tag.address, 16)
            mask = 1 << bit
            if self._value(tag):
                registers[index - start] |= mask
            else:
                registers[index - start] &= ~mask

    def _write(self, table: Table, address: int, values: list[int] | list[bool]) -> ExcCodes | None:
        if table is _COIL:
            return self._write_coils(address, cast(list[bool], values))
        # Only the setpoint is writable: pymodbus refuses read-only registers itself.
        setpoint = self._setpoint.address
        if not address <= setpoint < address + len(values):
            return ExcCodes.ILLEGAL_ADDRESS
        rpm = int(values[setpoint - address])
        try:
            self.model.command_setpoint(rpm)
        except ValueError as exc:
            logger.info("%s: refused write: %s", self.name, exc)
            return ExcCodes.ILLEGAL_VALUE
        logger.info("%s: speed setpoint %d rpm written (demand schedule paused)", self.name, rpm)
        return None

    def _write_coils(self, address: int, bits: list[bool]) -> ExcCodes | None:
        # The coil table is padded to 16 bits by pymodbus: refuse bits the map does not have.
        targets: list[tuple[Tag, bool]] = []
        for i, bit in enumerate(bits):
            tag = self._coils.get(address + i)
            if tag is None:
                return ExcCodes.ILLEGAL_ADDRESS
            targets.append((tag, bool(bit)))
        for tag, bit in targets:
            if tag.key == "maintenance_reset":
                # A momentary command: writing False is accepted and does nothing.
                if bit:
                    logger.info("%s: maintenance reset: bearing replaced", self.name)
                    self.model.command_repair()
            else:
                logger.info("%s: demand schedule %s", self.name, "on" if bit else "off")
                self.model.command_schedule(bit)
        return None


async def _absent_unit(*_request: object) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE


class PlantSimulator:
    """A plant of simulated pumps and their Modbus TCP servers, as an async context manager."""

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options = options or SimulatorOptions()
        if problems := options.problems():
            raise ValueError("; ".join(problems))
        seeded = Scenario(life_hours=options.life_hours, repair_after_h=options.repair_after_h)
        scenarios = [*options.scenarios, *[seeded] * (options.devices - len(options.scenarios))]
        self._devices = [
            _PumpDevice(PumpModel(options.seed, i, scenarios[i]), f"PUMP-{i + 1:02d}")
            for i in range(options.devices)
        ]
        self._servers: list[ModbusTcpServer] = []
        self._clock: asyncio.Task[None] | None = None
        self.ports: list[int] = []
        """The bound TCP port of each pump, in pump order (known once entered)."""

    def pump(self, index: int) -> PumpModel:
        """The model of pump `index` (0-based), to inspect or command it directly."""
        return self._devices[index].model

    def advance(self, steps: int) -> None:
        """Step every pump `steps` times; with speedup 0 the only way time passes."""
        for device in self._devices:
            device.model.advance(steps)

    async def __aenter__(self) -> PlantSimulator:
        options = self.options
        try:
            for i, device in enumerate(self._devices):
                port = options.base_port + i if options.base_port else 0
                await self._listen(device, port)
        except BaseException:
            await self._close_servers()
            raise
        if options.speedup > 0:
            self._clock = asyncio.create_task(self._run_clock(), name="plant-simulator-clock")
        logger.info(
            "simulating %d pump(s) on %s ports %s, unit %d (seed %d, speedup %g, life %g h)",
            len(self._devices), options.host, self.ports, options.unit_id, options.seed,
            options.speedup, options.life_hours,
        )  # fmt: skip
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        clock, self._clock = self._clock, None
        try:
            if clock is not None:
                clock.cancel()
                # wait() neither raises the clock's CancelledError nor swallows our own.
                await asyncio.wait([clock])
        finally:
            await self._close_servers()
        if clock is not None and not clock.cancelled() and exc_type is None:
            clock.result()  # the clock ended by itself: that is a bug, let it surface

    async def wait(self) -> None:
        """Until the clock fails (a bug); forever otherwise, or while paused."""
        if self._clock is None:
            await asyncio.get_running_loop().create_future()
        else:
            await asyncio.shield(self._clock)

    async def _listen(self, device: _PumpDevice, port: int) -> None:
        # pymodbus.server loads pymodbus's HTTP simulator and with it aiohttp (~25 MiB): only
        # a plant that serves pays for it, not every `uvelka` command that parses the
        # simulator's options (issue #10).
        from pymodbus.server import ModbusTcpServer  # noqa: PLC0415

        host = self.options.host
        server = ModbusTcpServer(device.sim_devices(self.options.unit_id), address=(host, port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus reports a failed bind this way
            why = _bind_problem(host, port)
            raise OSError(f"{device.name}: cannot listen on {host}:{port}: {why}") from exc
        self._servers.append(server)
        listener = cast(asyncio.Server, server.transport)
        self.ports.append(listener.sockets[0].getsockname()[1])

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            await server.shutdown()

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        speedup = self.options.speedup
        steps_per_s = speedup / DT_S
        tick_s = max(DT_S / speedup, _MIN_TICK_S)
        max_batch = max(1, int(steps_per_s * _MAX_CATCH_UP_S))
        origin = loop.time()
        done = 0
        lagging = False
        while True:
            await asyncio.sleep(tick_s)
            due = int((loop.time() - origin) * steps_per_s) - done
            if due > max_batch:
                if not lagging:
                    logger.warning(
                        "cannot keep up with speedup %g for %d pump(s): simulated time slows",
                        speedup, len(self._devices),
                    )  # fmt: skip
                    lagging = True
                origin += (due - max_batch) / steps_per_s  # forgive the lag
                due = max_batch
            self.advance(due)
            done += due


async def run_simulator(options: SimulatorOptions) -> None:
    """Serve the simulated plant until cancelled."""
    async with PlantSimulator(options) as plant:
        await plant.wait()


def _bind_problem(host: str, port: int) -> str:
    """Why a listening socket cannot bind host:port, found by trying again (issue #14):
    pymodbus only logs the OSError of its failed bind (at WARNING, which the CLI silences)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                # As asyncio's create_server binds: a port in TIME_WAIT is free to it.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
                probe.listen()
    except OSError as exc:  # socket.gaierror included: the host does not resolve
        return (exc.strerror or str(exc)).lower()
    return "the address was busy and is free now; try again"
