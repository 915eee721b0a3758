"""The simulated plant: its physics, its determinism and its Modbus face.

The served registers are read with pyModbusTCP, a client independent of pymodbus, and
decoded with pyModbusTCP's own helpers against the map in gateway/defaults/demo.toml, so
neither the library that serves them nor our codec checks itself.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import statistics
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pyModbusTCP import utils
from pyModbusTCP.client import ModbusClient

from drivers.base import Table
from drivers.modbus.simulator import (
    REGISTER_MAP,
    WRITABLE_TAGS,
    PlantSimulator,
    SimulatorOptions,
    run_simulator,
)
from drivers.plant.pump import (
    DT_S,
    FaultCode,
    PumpModel,
    PumpReading,
    Scenario,
)

ROOT = Path(__file__).resolve().parents[3]
DEMO = tomllib.loads((ROOT / "gateway" / "defaults" / "demo.toml").read_text())
DOCS = (ROOT / "docs" / "simulator.md").read_text()
TAGS: list[dict[str, Any]] = DEMO["devices"][0]["tags"]
STEPS_PER_HOUR = round(3600 / DT_S)

# A pump left alone at one speed, so that what changes is what the test is about.
STEADY = Scenario(
    initial_wear=0.0,
    life_spread=0.0,
    demand_schedule=False,
    setpoint_rpm=2950,
    cavitation_every_h=None,
    repair_after_h=None,
    ambient_swing_c=0.0,
)


# -- reading the plant with an independent client -------------------------------------


@contextmanager
def client(port: int, unit_id: int = 1) -> Iterator[ModbusClient]:
    modbus = ModbusClient(host="127.0.0.1", port=port, unit_id=unit_id, timeout=2.0)
    try:
        yield modbus
    finally:
        modbus.close()


def spans(tags: list[dict[str, Any]]) -> Iterator[tuple[str, int, int]]:
    """(table, start, count) of each contiguous run of mapped addresses."""
    by_table: dict[str, list[tuple[int, int]]] = {}
    for tag in tags:
        width = 1 if tag["table"] in ("coil", "discrete") else _width(tag)
        by_table.setdefault(tag["table"], []).append((tag["address"], tag["address"] + width))
    for table, ranges in by_table.items():
        ranges.sort()
        start, end = ranges[0]
        for low, high in ranges[1:]:
            if low > end:
                yield table, start, end - start
                start = low
            end = max(end, high)
        yield table, start, end - start


def _width(tag: dict[str, Any]) -> int:
    words = {"bool": 1, "int16": 1, "uint16": 1, "uint32": 2, "float32": 2, "uint64": 4}
    if tag["type"] == "string":
        return (tag["length"] + 1) // 2
    return words[tag["type"]]


def read_tables(modbus: ModbusClient) -> dict[tuple[str, int], int | bool]:
    """Every mapped register and bit of a device, by (table, address)."""
    readers = {
        "input": modbus.read_input_registers,
        "holding": modbus.read_holding_registers,
        "coil": modbus.read_coils,
        "discrete": modbus.read_discrete_inputs,
    }
    image: dict[tuple[str, int], int | bool] = {}
    for table, start, count in spans(TAGS):
        data = readers[table](start, count)
        assert data is not None, f"{table} {start}+{count}: {modbus.last_error_as_txt}"
        image.update({(table, start + i): item for i, item in enumerate(data)})
    return image


def decode(tag: dict[str, Any], image: dict[tuple[str, int], int | bool]) -> Any:
    """One tag's value, decoded with pyModbusTCP's helpers as the demo map describes it."""
    table, address = tag["table"], tag["address"]
    if table in ("coil", "discrete"):
        return image[table, address]
    words = [int(image[table, address + i]) for i in range(_width(tag))]
    kind = tag["type"]
    big_endian = tag.get("order", "ABCD") == "ABCD"
    assert tag.get("order", "ABCD") in ("ABCD", "CDAB"), "the demo map uses only these"
    if kind == "bool":
        return utils.test_bit(words[0], tag["bit"])
    if kind == "string":
        raw = b"".join(word.to_bytes(2, "big") for word in words)
        return raw[: tag["length"]].rstrip(b"\0").decode("latin-1")
    if kind == "float32":
        raw_value: float = utils.decode_ieee(utils.word_list_to_long(words, big_endian)[0])
    elif kind == "int16":
        raw_value = utils.get_2comp(words[0], 16)
    elif kind == "uint16":
        raw_value = words[0]
    else:
        long_long = kind == "uint64"
        raw_value = utils.word_list_to_long(words, big_endian, long_long)[0]
    return raw_value * tag.get("scale", 1.0)


async def read_device(port: int) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with client(port) as modbus:
            image = read_tables(modbus)
        return {tag["name"]: decode(tag, image) for tag in TAGS}

    return await asyncio.to_thread(read)


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        # The condition is the plant's state read over Modbus: there is no event to await.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def assert_matches(tag: dict[str, Any], served: Any, reading: PumpReading) -> None:
    expected = getattr(reading, tag["name"])
    if tag["type"] == "float32":
        assert served == pytest.approx(expected, rel=1e-6, abs=1e-6), tag["name"]
    elif "scale" in tag:
        assert abs(served - expected) <= tag["scale"] / 2 + 1e-9, tag["name"]
    else:
        assert served == expected, tag["name"]


def in_range(tag: dict[str, Any], value: float) -> bool:
    low, high = tag["range"]
    return bool(low <= value <= high)


# -- the map: simulator, demo configuration and documentation agree --------------------


def test_demo_config_mirrors_the_register_map() -> None:
    assert len(DEMO["devices"]) == 3
    for i, device in enumerate(DEMO["devices"]):
        assert device["name"] == f"pump{i + 1}"
        assert device["url"] == f"modbus-tcp://127.0.0.1:{5020 + i}"
        assert device["unit_id"] == 1
        configured = {tag["name"]: tag for tag in device["tags"]}
        assert list(configured) == [tag.key for tag in REGISTER_MAP]
        for tag in REGISTER_MAP:
            entry = configured[tag.key]
            assert Table(entry["table"]) is tag.table, tag.key
            assert entry["address"] == tag.address, tag.key
            assert entry["type"] == tag.type, tag.key
            assert entry.get("order", "ABCD") == tag.order, tag.key
            assert entry.get("bit") == tag.bit, tag.key
            assert entry.get("length", 0) == tag.length, tag.key
            assert entry.get("scale", 1.0) == tag.scale, tag.key
            assert entry.get("writable", False) == (tag.key in WRITABLE_TAGS), tag.key


def test_documented_map_matches_the_register_map() -> None:
    rows = {}
    for line in DOCS.split("## Register map", 1)[1].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    assert list(rows) == [tag.key for tag in REGISTER_MAP]
    for tag in REGISTER_MAP:
        name, table, address, kind, order, bit_or_length, scale, _unit, access = rows[tag.key]
        assert (table, int(address), kind) == (tag.table, tag.address, tag.type), name
        if not tag.table.is_bit:
            assert order == tag.order, name
        detail = f"length {tag.length}" if tag.length else ""
        assert bit_or_length == (f"bit {tag.bit}" if tag.bit is not None else detail), name
        assert float(scale) == tag.scale, name
        assert access == ("read/write" if tag.key in WRITABLE_TAGS else "read"), name


# -- the pure model --------------------------------------------------------------------


def test_same_seed_gives_the_same_sequence() -> None:
    first = PumpModel(seed=11, index=1)
    sequence = {first.step_count: first.reading}
    for reading in _readings(first, 3000):
        sequence[first.step_count] = reading
    again = PumpModel(seed=11, index=1)
    assert [again.reading, *_readings(again, 3000)] == list(sequence.values())
    batched = PumpModel(seed=11, index=1)
    for steps in (1, 998, 2001):  # how the steps are batched must not matter
        batched.advance(steps)
        assert batched.reading == sequence[batched.step_count]


def test_different_seeds_and_pumps_differ() -> None:
    base = [r.vibration_rms for r in _readings(PumpModel(seed=11, index=0), 500)]
    other_seed = [r.vibration_rms for r in _readings(PumpModel(seed=12, index=0), 500)]
    other_pump = [r.vibration_rms for r in _readings(PumpModel(seed=11, index=1), 500)]
    assert base != other_seed
    assert base != other_pump


def _readings(model: PumpModel, steps: int, every: int = 1) -> Iterator[PumpReading]:
    for _ in range(steps // every):
        model.advance(every)
        yield model.reading


def _settled_means(setpoint_rpm: int) -> dict[str, float]:
    model = PumpModel(seed=5, scenario=STEADY)
    model.command_setpoint(setpoint_rpm)
    model.advance(600)  # the ramp from rated speed takes at most 20 s
    readings = list(_readings(model, 600))
    names = ("speed", "flow", "discharge_pressure", "suction_pressure", "motor_current")
    return {name: statistics.fmean(getattr(r, name) for r in readings) for name in names}


@pytest.mark.parametrize("setpoint_rpm", [1480, 2210])
def test_affinity_laws_hold_approximately(setpoint_rpm: int) -> None:
    rated, reduced = _settled_means(2950), _settled_means(setpoint_rpm)
    ratio = reduced["speed"] / rated["speed"]
    assert ratio == pytest.approx(setpoint_rpm / 2950, rel=0.002)
    assert reduced["flow"] / rated["flow"] == pytest.approx(ratio, rel=0.02)
    rise = [m["discharge_pressure"] - m["suction_pressure"] for m in (reduced, rated)]
    assert rise[0] / rise[1] == pytest.approx(ratio**2, rel=0.03)
    idle_a = 0.4  # the drive's electronics draw this with the motor at rest
    power = [m["motor_current"] - idle_a for m in (reduced, rated)]
    # Bearing friction grows with speed, not its cube: the ratio sits a little above r^3.
    assert power[0] / power[1] == pytest.approx(ratio**3, rel=0.12)
    assert power[0] / power[1] > ratio**3


def test_readings_stay_in_the_documented_ranges_through_faults() -> None:
    """Wear to failure, cavitation, stops and repairs, all within each tag's range."""
    scenario = Scenario(
        life_hours=1.0,
        initial_wear=0.5,
        demand_range=(0.9, 1.0),  # fast enough for every episode to cavitate
        cavitation_every_h=0.3,
        repair_after_h=0.2,
    )
    model = PumpModel(seed=2, scenario=scenario)
    ranged = [tag for tag in TAGS if "range" in tag]
    seen_faults, seen_cavitation, seen_stops = set(), 0.0, False
    for reading in _readings(model, 3 * STEPS_PER_HOUR, every=5):
        for tag in ranged:
            value = getattr(reading, tag["name"])
            assert in_range(tag, value), (tag["name"], value, model.time_s)
        seen_faults.add(reading.fault_code)
        seen_cavitation = max(seen_cavitation, model.cavitation)
        seen_stops |= reading.speed == 0
        assert reading.running == (reading.fault_code == 0 and reading.speed_setpoint > 0)
        assert reading.tripped == (reading.fault_code != 0)
    assert 0 in seen_faults
    assert seen_faults - {0}, "the bearing should have failed"
    assert seen_cavitation > 0.5
    assert seen_stops


def test_wear_raises_vibration_and_temperature_until_a_trip() -> None:
    model = PumpModel(seed=8, scenario=Scenario(**{**_steady_fields(), "life_hours": 1.0}))
    samples: list[tuple[float, PumpReading]] = []
    while model.fault is FaultCode.NONE:
        assert model.time_s < 2 * 3600, "the bearing never failed"
        model.advance(10)
        samples.append((model.wear, model.reading))
    assert model.fault in (FaultCode.VIBRATION_TRIP, FaultCode.BEARING_SEIZED)
    assert model.wear > 0.9
    healthy = samples[:-1]
    windows = 10
    size = len(healthy) // windows
    means = {
        name: [
            statistics.fmean(getattr(r, name) for _, r in healthy[k * size : (k + 1) * size])
            for k in range(windows)
        ]
        for name in ("vibration_rms", "vibration_hf", "bearing_temperature")
    }
    for name, series in means.items():
        rises = [later - earlier for earlier, later in zip(series, series[1:], strict=False)]
        # Smoothed over a tenth of the life each, the signals never fall back.
        assert min(rises) > -0.02 * max(series), (name, series)
    vibration, hf, temperature = (
        means["vibration_rms"],
        means["vibration_hf"],
        means["bearing_temperature"],
    )
    assert vibration[-1] > 3 * vibration[0]
    assert hf[-1] > 10 * hf[0]
    assert temperature[-1] > temperature[0] + 5.0
    # The high-frequency band is the early warning: it doubles well before the RMS does.
    assert (
        _wear_when_doubled(samples, "vibration_hf")
        < _wear_when_doubled(samples, "vibration_rms") - 0.1
    )
    # Near the end of life the RMS becomes erratic, not only higher.
    start, end = healthy[:size], healthy[-size // 2 :]
    spread = [statistics.pstdev(r.vibration_rms for _, r in part) for part in (start, end)]
    relative = [s / statistics.fmean(r.vibration_rms for _, r in part)
                for s, part in zip(spread, (start, end), strict=True)]  # fmt: skip
    assert relative[1] > 2 * relative[0]
    # A seized or tripped pump stops.
    model.advance(200)
    assert model.reading.speed == 0
    assert not model.reading.running
    assert model.reading.tripped


def _steady_fields() -> dict[str, Any]:
    return {name: getattr(STEADY, name) for name in STEADY.__dataclass_fields__}


def _wear_when_doubled(samples: list[tuple[float, PumpReading]], name: str) -> float:
    baseline = statistics.fmean(getattr(r, name) for _, r in samples[:200])
    smoothed = baseline
    for wear, reading in samples:
        smoothed += 0.05 * (getattr(reading, name) - smoothed)
        if smoothed > 2 * baseline:
            return wear
    return math.inf


def test_repair_fits_a_new_bearing_and_clears_the_trip() -> None:
    model = PumpModel(seed=4, scenario=Scenario(**{**_steady_fields(), "life_hours": 0.1}))
    while model.fault is FaultCode.NONE:
        assert model.time_s < 3600, "the bearing never failed"
        model.advance(100)
    model.command_repair()
    assert model.reading.maintenance_reset  # the command reads back at once...
    model.step()
    assert not model.reading.maintenance_reset  # ...and clears when carried out
    assert model.wear < 0.01
    assert model.fault is FaultCode.NONE
    assert model.reading.running
    assert model.remaining_life_h == pytest.approx(0.1, rel=0.01)


def test_cavitation_episode_shows_in_suction_flow_and_vibration() -> None:
    model = PumpModel(seed=6, scenario=Scenario(**{**_steady_fields(), "cavitation_every_h": 0.1}))
    normal = list(_readings(model, 300))
    while model.cavitation < 0.8:
        assert model.time_s < 3 * 3600, "no cavitation episode"
        model.step()
    cavitating = list(_readings(model, 300))

    def mean(readings: list[PumpReading], name: str) -> float:
        return statistics.fmean(getattr(r, name) for r in readings)

    assert mean(cavitating, "suction_pressure") < 0.0 < mean(normal, "suction_pressure")
    assert all(r.low_suction_pressure for r in cavitating)
    assert not any(r.low_suction_pressure for r in normal)
    assert mean(cavitating, "flow") < 0.95 * mean(normal, "flow")
    flow_spread = [statistics.pstdev(r.flow for r in part) for part in (normal, cavitating)]
    assert flow_spread[1] > 3 * flow_spread[0]
    assert mean(cavitating, "vibration_rms") > 1.5 * mean(normal, "vibration_rms")
    assert mean(cavitating, "vibration_hf") > 5 * mean(normal, "vibration_hf")


def test_demand_schedule_moves_the_operating_point_until_a_setpoint_is_written() -> None:
    model = PumpModel(seed=9)
    setpoints = {r.speed_setpoint for r in _readings(model, STEPS_PER_HOUR, every=50)}
    assert len(setpoints) >= 5  # a change every 3 to 10 minutes
    model.command_setpoint(2000)
    assert not model.reading.demand_schedule
    held = {r.speed_setpoint for r in _readings(model, STEPS_PER_HOUR // 2, every=50)}
    assert held == {2000}
    model.command_schedule(True)
    resumed = {r.speed_setpoint for r in _readings(model, STEPS_PER_HOUR, every=50)}
    assert len(resumed) >= 5


@pytest.mark.parametrize("rpm", [-1, 1, 599, 3001])
def test_setpoint_outside_the_drive_range_is_refused(rpm: int) -> None:
    model = PumpModel(seed=1, scenario=STEADY)
    with pytest.raises(ValueError, match="600..3000"):
        model.command_setpoint(rpm)
    assert model.reading.speed_setpoint == 2950


# -- the plant over Modbus -------------------------------------------------------------


async def test_served_registers_decode_to_the_models_readings() -> None:
    options = SimulatorOptions(devices=2, base_port=0, seed=3, speedup=0.0, life_hours=0.5)
    async with PlantSimulator(options) as plant:
        assert len(set(plant.ports)) == 2
        for _ in range(3):
            plant.advance(STEPS_PER_HOUR // 10)  # paused clock: nothing moves while we read
            for index, port in enumerate(plant.ports):
                served = await read_device(port)
                reading = plant.pump(index).reading
                assert served["device_name"] == f"PUMP-{index + 1:02d}"
                for tag in TAGS:
                    if tag["name"] != "device_name":
                        assert_matches(tag, served[tag["name"]], reading)
                    if "range" in tag:
                        assert in_range(tag, served[tag["name"]]), (tag["name"], served)
                assert served["run_hours"] > 1000  # counters start from a plausible history
                assert served["energy"] > 10000


async def test_writing_the_speed_setpoint_moves_speed_and_flow() -> None:
    # Seed 4's first cavitation episode is 40 simulated minutes (two wall minutes) away.
    options = SimulatorOptions(base_port=0, seed=4, speedup=20.0)
    async with PlantSimulator(options) as plant:
        port = plant.ports[0]

        def write_setpoint(rpm: int) -> tuple[bool, list[int] | None, list[bool] | None]:
            with client(port) as modbus:
                written = modbus.write_single_register(3, rpm)
                return written, modbus.read_holding_registers(3, 1), modbus.read_coils(1, 1)

        for rpm in (1200, 2900):
            written, echo, schedule = await asyncio.to_thread(write_setpoint, rpm)
            assert written
            assert echo == [rpm]  # a written setpoint reads back at once
            assert schedule == [False]  # and takes over from the demand schedule
            expected_flow = 100.0 * rpm / 2950

            async def settled(rpm: int = rpm, expected_flow: float = expected_flow) -> bool:
                served = await read_device(port)
                return (
                    abs(served["speed"] - rpm) <= 5
                    and abs(served["flow"] - expected_flow) < 0.05 * expected_flow
                )

            await wait_for(settled)


async def test_device_refuses_what_a_real_device_would() -> None:
    options = SimulatorOptions(base_port=0, seed=1, speedup=0.0)
    async with PlantSimulator(options) as plant:
        port = plant.ports[0]

        def attempts() -> dict[str, int | None]:
            outcome: dict[str, int | None] = {}
            with client(port) as modbus:
                modbus.write_single_register(3, 100)
                outcome["setpoint out of range"] = modbus.last_except
                modbus.write_single_register(0, 1)
                outcome["read-only register"] = modbus.last_except
                modbus.read_holding_registers(4, 1)
                outcome["unmapped register"] = modbus.last_except
                modbus.read_input_registers(17, 2)
                outcome["past the end"] = modbus.last_except
                modbus.write_single_coil(5, True)
                outcome["unmapped coil"] = modbus.last_except
            with client(port, unit_id=7) as modbus:
                modbus.read_input_registers(0, 2)
                outcome["other unit"] = modbus.last_except
            return outcome

        assert await asyncio.to_thread(attempts) == {
            "setpoint out of range": 3,
            "read-only register": 2,
            "unmapped register": 2,
            "past the end": 2,
            "unmapped coil": 2,
            "other unit": 11,
        }
        assert plant.pump(0).reading.speed_setpoint != 100


async def test_maintenance_reset_coil_repairs_a_tripped_pump() -> None:
    options = SimulatorOptions(
        base_port=0, seed=5, speedup=0.0, life_hours=0.05, repair_after_h=None
    )
    async with PlantSimulator(options) as plant:
        port = plant.ports[0]
        pump = plant.pump(0)
        while pump.fault is FaultCode.NONE:
            assert pump.time_s < 3600, "the bearing never failed"
            plant.advance(100)
        tripped = await read_device(port)
        assert tripped["tripped"]
        assert tripped["fault_code"] == pump.fault
        assert not tripped["running"]

        def reset() -> tuple[bool, list[bool] | None]:
            with client(port) as modbus:
                return modbus.write_single_coil(0, True), modbus.read_coils(0, 1)

        assert await asyncio.to_thread(reset) == (True, [True])  # pending until the next step
        plant.advance(1)
        repaired = await read_device(port)
        assert repaired["maintenance_reset"] is False
        assert not repaired["tripped"]
        assert repaired["fault_code"] == 0
        assert repaired["running"]
        assert pump.wear < 0.001


async def test_clock_never_runs_ahead_of_the_speedup() -> None:
    loop = asyncio.get_running_loop()
    speedup = 200.0
    started = loop.time()
    async with PlantSimulator(SimulatorOptions(base_port=0, speedup=speedup)) as plant:
        pump = plant.pump(0)

        async def progressed() -> bool:
            return pump.step_count > 1000

        await wait_for(progressed)
        elapsed_s = loop.time() - started
        # One step is taken when the model is built; the clock's steps follow wall time.
        assert pump.step_count - 1 <= elapsed_s * speedup / DT_S + 1


async def test_run_simulator_serves_until_cancelled_and_frees_its_port() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_simulator(SimulatorOptions(base_port=port, seed=2)))

    async def serving() -> bool:
        def name() -> list[int] | None:
            with client(port) as modbus:
                return modbus.read_holding_registers(200, 8)

        return await asyncio.to_thread(name) is not None

    await wait_for(serving)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    def connects() -> bool:
        with client(port) as modbus:
            return bool(modbus.open())

    assert not await asyncio.to_thread(connects)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (SimulatorOptions(devices=0), "devices"),
        (SimulatorOptions(base_port=65535, devices=2), "base_port"),
        (SimulatorOptions(speedup=-1.0), "speedup"),
        (SimulatorOptions(life_hours=0.0), "life_hours"),
        (SimulatorOptions(unit_id=256), "unit_id"),
    ],
)
def test_bad_options_are_refused(options: SimulatorOptions, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        PlantSimulator(options)
