"""The contract every driver passes, through `drivers.base.Driver` alone, against a real peer
on loopback: the test a second protocol's folder must pass (drivers/README.md).

Each case is a driver with one of its loopback peers. A peer serves the four kinds of
table of the field model (`drivers.base.Table`) and offers `url`, `set`, `get`, `fault`
(answer "no such address" for a range) and `stop`, as tests/fixtures/modbus.py's servers do.
Modbus runs it against pymodbus's server over TCP, RTU over TCP and a serial pty, and
against pyModbusTCP, an implementation written independently of pymodbus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from drivers import modbus
from drivers.base import (
    ByteOrder,
    Connection,
    DataType,
    Driver,
    IllegalAddress,
    OutOfRange,
    Table,
    Tag,
    Unavailable,
    Value,
    tag_problems,
)
from drivers.registry import DRIVERS
from tests.fixtures.modbus import SerialRtuServer

UNIT = 1
TIMEOUT_S = 0.5


class Peer(Protocol):
    """What the contract needs of a driver's loopback server."""

    @property
    def url(self) -> str: ...

    def set(self, table: Table, address: int, values: Sequence[int | bool], unit: int = 1) -> None:
        ...

    def get(self, table: Table, address: int, count: int = 1, unit: int = 1) -> list[int | bool]:
        ...

    def fault(self, table: Table, start: int, count: int, code: int = 2, unit: int = 1) -> None:
        ...

    async def stop(self) -> None: ...


class _SerialPeer:
    """The serial RTU server seen through its register store, as the other peers are."""

    def __init__(self, server: SerialRtuServer) -> None:
        self._server = server
        self.url = server.url

    def set(self, table: Table, address: int, values: Sequence[int | bool], unit: int = 1) -> None:
        self._server.store.set(unit, table, address, values)

    def get(self, table: Table, address: int, count: int = 1, unit: int = 1) -> list[int | bool]:
        return self._server.store.get(unit, table, address, count)

    def fault(self, table: Table, start: int, count: int, code: int = 2, unit: int = 1) -> None:
        self._server.store.fault(unit, table, start, count, code)

    async def stop(self) -> None:
        await self._server.stop()


@dataclass(frozen=True)
class Case:
    driver: Driver
    peer_fixture: str

    def __str__(self) -> str:
        return self.peer_fixture


CASES = [
    Case(modbus.DRIVER, "modbus_tcp_server"),
    Case(modbus.DRIVER, "rtu_over_tcp_server"),
    Case(modbus.DRIVER, "serial_rtu_server"),
    Case(modbus.DRIVER, "pymodbustcp_server"),
]


# Every registered driver, once: the checks that need no peer.
REGISTERED = list({id(driver): driver for driver in DRIVERS.by_scheme.values()}.values())


def _scheme_of(driver: Driver) -> str:
    return driver.schemes[0]


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def peer(case: Case, request: pytest.FixtureRequest) -> Peer:
    server = request.getfixturevalue(case.peer_fixture)
    return _SerialPeer(server) if isinstance(server, SerialRtuServer) else server  # type: ignore[no-any-return]


@asynccontextmanager
async def connected(driver: Driver, url: str) -> AsyncIterator[Connection]:
    settings = driver.settings(driver.link(url), UNIT, TIMEOUT_S)
    async with driver.open(settings) as conn:
        yield conn


def tag(name: str, table: Table, address: int, dtype: DataType, **fields: Any) -> Tag:
    return Tag(f"device.{name}", table, address, dtype, **fields)


async def read_all(driver: Driver, conn: Connection, tags: Sequence[Tag]) -> dict[str, Value]:
    limits = driver.limits(max_registers=100, max_bits=1000, max_gap=8)
    values: dict[str, Value] = {}
    for block in driver.plan(tags, UNIT, limits):
        for read_tag, value in driver.decode(block, await conn.read(block)):
            assert read_tag.key not in values, f"{read_tag.key} read twice"
            values[read_tag.key] = value
    return values


# Writable tables: what the driver writes, it reads back.
WRITTEN: list[tuple[Tag, Value]] = [
    (tag("u16", Table.HOLDING, 0, DataType.UINT16), 65535),
    (tag("i32", Table.HOLDING, 1, DataType.INT32, order=ByteOrder.CDAB), -2),
    (tag("f64", Table.HOLDING, 3, DataType.FLOAT64, order=ByteOrder.DCBA), 123.456),
    (tag("text", Table.HOLDING, 7, DataType.STRING, length=5), "AB CD"),
    (tag("flag", Table.HOLDING, 10, DataType.BOOL, bit=3), True),
    (tag("scaled", Table.HOLDING, 11, DataType.INT16, scale=0.1), -12.5),
    (tag("coil", Table.COIL, 5, DataType.BOOL), True),
]


def test_every_registered_driver_has_a_case_with_a_peer() -> None:
    assert {id(driver) for driver in REGISTERED} == {id(case.driver) for case in CASES}


@pytest.mark.parametrize("driver", REGISTERED, ids=_scheme_of)
def test_the_registry_chooses_the_driver_by_each_of_its_schemes(driver: Driver) -> None:
    assert len(driver.url_forms) == len(driver.schemes) > 0
    for scheme, form in zip(driver.schemes, driver.url_forms, strict=True):
        assert form.startswith(f"{scheme}://")
        assert DRIVERS.by_scheme[scheme] is driver
        assert DRIVERS.driver_for(f"{scheme.upper()}://x") is driver  # schemes are case-blind
    with pytest.raises(ValueError, match="unknown link scheme 'nope'; expected .*"):
        DRIVERS.driver_for("nope://10.0.0.1")


@pytest.mark.parametrize("driver", REGISTERED, ids=_scheme_of)
def test_a_bad_link_is_a_value_error_saying_why(driver: Driver) -> None:
    for url in ("", " ", f"{driver.schemes[0]}://", f"{driver.schemes[0]}://x\x00y"):
        with pytest.raises(ValueError, match=r"\S"):
            driver.link(url)


@pytest.mark.parametrize("driver", REGISTERED, ids=_scheme_of)
def test_address_checks_hold_every_shared_rule(driver: Driver) -> None:
    """The driver's own checks add to what every table allows; they never drop a rule."""
    wrong = [
        tag("in_bits", Table.COIL, 0, DataType.INT16),
        tag("bit_17", Table.HOLDING, 0, DataType.BOOL, bit=17),
        tag("no_length", Table.HOLDING, 0, DataType.STRING),
        tag("read_only", Table.INPUT, 0, DataType.UINT16),
    ]
    for wrong_tag in wrong:
        shared = tag_problems(wrong_tag, writable=True)
        assert shared
        problems = driver.address_problems(wrong_tag, writable=True)
        assert set(shared) <= set(problems), wrong_tag
    fine = tag("fine", Table.HOLDING, 0, DataType.FLOAT32)
    assert driver.address_problems(fine, writable=True, max_registers=100) == []
    end = tag("end", Table.HOLDING, driver.address_space, DataType.UINT16)
    assert [key for key, _ in driver.address_problems(end)] == ["address"]


async def test_a_unit_the_link_cannot_reach_is_a_value_error(case: Case, peer: Peer) -> None:
    with pytest.raises(ValueError, match="unit"):
        case.driver.settings(case.driver.link(peer.url), -1, TIMEOUT_S)


async def test_what_is_written_reads_back(case: Case, peer: Peer) -> None:
    async with connected(case.driver, peer.url) as conn:
        for written_tag, value in WRITTEN:
            await case.driver.write(conn, written_tag, value)
        values = await read_all(case.driver, conn, [written for written, _ in WRITTEN])
    assert values == {written.key: value for written, value in WRITTEN}
    assert peer.get(Table.HOLDING, 0) == [65535]
    assert peer.get(Table.HOLDING, 10) == [0b1000]  # the other bits of the word kept
    assert peer.get(Table.COIL, 5) == [True]


async def test_read_only_tables_decode_what_the_peer_holds(case: Case, peer: Peer) -> None:
    peer.set(Table.INPUT, 20, [0xFFFF, 0xFFFE, 0x42F6, 0xE979])
    peer.set(Table.DISCRETE, 3, [True, False])
    tags = [
        tag("i32", Table.INPUT, 20, DataType.INT32),
        tag("f32", Table.INPUT, 22, DataType.FLOAT32),
        tag("on", Table.DISCRETE, 3, DataType.BOOL),
        tag("off", Table.DISCRETE, 4, DataType.BOOL),
    ]
    async with connected(case.driver, peer.url) as conn:
        values = await read_all(case.driver, conn, tags)
    assert values["device.i32"] == -2
    assert values["device.f32"] == pytest.approx(123.456, rel=1e-6)
    assert (values["device.on"], values["device.off"]) == (True, False)


async def test_a_value_that_does_not_fit_is_refused_before_anything_is_sent(
    case: Case, peer: Peer
) -> None:
    peer.set(Table.HOLDING, 30, [7])
    u16 = tag("u16", Table.HOLDING, 30, DataType.UINT16)
    async with connected(case.driver, peer.url) as conn:
        with pytest.raises(OutOfRange):
            await case.driver.write(conn, u16, 70000)
        with pytest.raises(TypeError):
            await case.driver.write(conn, u16, "seven")
    assert peer.get(Table.HOLDING, 30) == [7]


async def test_a_missing_address_is_illegal_address_and_the_block_splits(
    case: Case, peer: Peer
) -> None:
    peer.fault(Table.HOLDING, 41, 1)
    tags = [
        tag("a", Table.HOLDING, 40, DataType.UINT16),
        tag("b", Table.HOLDING, 42, DataType.UINT16),
    ]
    limits = case.driver.limits(max_registers=100, max_bits=1000, max_gap=8)
    (block,) = case.driver.plan(tags, UNIT, limits)
    async with connected(case.driver, peer.url) as conn:
        with pytest.raises(IllegalAddress):
            await conn.read(block)
        pieces = case.driver.split(block)
        assert sorted(t.key for piece in pieces for t in piece.tags) == ["device.a", "device.b"]
        for piece in pieces:
            await conn.read(piece)  # no piece reads the missing address


async def test_a_peer_gone_is_unavailable(case: Case, peer: Peer) -> None:
    block_tag = tag("a", Table.HOLDING, 0, DataType.UINT16)
    limits = case.driver.limits(max_registers=100, max_bits=1000, max_gap=8)
    (block,) = case.driver.plan([block_tag], UNIT, limits)
    await peer.stop()
    with pytest.raises(Unavailable):
        async with connected(case.driver, peer.url) as conn:
            await conn.read(block)
