"""The Modbus client against real servers on loopback: pymodbus and, independently, pyModbusTCP."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from drivers.base import (
    DataType,
    IllegalAddress,
    ReadBlock,
    Rejected,
    Table,
    Tag,
    Unavailable,
)
from drivers.modbus.client import (
    DeviceSettings,
    _HoldingRegisters,
    _InputRegisters,
    open_device,
)
from drivers.modbus.link import LinkSettings, Scheme
from tests.fixtures.modbus import PEER_TABLE_SIZE, PeerServer, PymodbusServer, wait_until

TCP_PEERS = ["modbus_tcp_server", "pymodbustcp_server"]
# Generous for 2 noisy cores: each bound below says "well under a timeout", not a latency.
SLACK_S = 0.5


def device(url: str, unit: int = 1, timeout_s: float = 2.0) -> DeviceSettings:
    return DeviceSettings(LinkSettings.parse(url), unit, timeout_s)


def block(table: Table, start: int, count: int) -> ReadBlock:
    return ReadBlock(unit=1, table=table, start=start, count=count)


def holding(address: int, type_: DataType = DataType.UINT16, length: int = 0) -> Tag:
    return Tag(f"t{address}", Table.HOLDING, address, type_, length=length)


@pytest.fixture(params=TCP_PEERS)
def peer(request: pytest.FixtureRequest) -> PymodbusServer | PeerServer:
    """Each Modbus TCP server implementation in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["modbus_tcp_server", "rtu_over_tcp_server"])
def any_framing_server(request: pytest.FixtureRequest) -> PymodbusServer:
    """A pymodbus server with MBAP framing, then one with RTU framing over TCP."""
    return request.getfixturevalue(request.param)


def exactly(message: str) -> str:
    """A `match` pattern for the whole message."""
    return f"^{re.escape(message)}$"


class Stopwatch:
    """`with Stopwatch() as watch, pytest.raises(...)`: time a call that must fail."""

    def __enter__(self) -> Stopwatch:
        self._started = time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.monotonic() - self._started


async def test_reads_each_table(peer: PymodbusServer | PeerServer) -> None:
    peer.set(Table.HOLDING, 10, [0, 1, 0x8000, 0xFFFF])
    peer.set(Table.INPUT, 20, [123, 65000])
    peer.set(Table.COIL, 30, [True, False, True, True, False, False, True, False, True])
    peer.set(Table.DISCRETE, 40, [False, True, True])
    async with open_device(device(peer.url)) as connection:
        assert await connection.read(block(Table.HOLDING, 10, 4)) == [0, 1, 0x8000, 0xFFFF]
        assert await connection.read(block(Table.INPUT, 20, 2)) == [123, 65000]
        # 9 bits span two bytes on the wire: the padding of the second byte is dropped.
        assert await connection.read(block(Table.COIL, 30, 9)) == [
            True, False, True, True, False, False, True, False, True,
        ]  # fmt: skip
        assert await connection.read(block(Table.DISCRETE, 40, 3)) == [False, True, True]
        assert connection.connected
        assert connection.round_trip_s is not None
        assert 0 < connection.round_trip_s < 2.0


async def test_reads_the_largest_register_blocks(peer: PymodbusServer | PeerServer) -> None:
    words = [(7919 * i) & 0xFFFF for i in range(125)]
    peer.set(Table.HOLDING, 0, words)
    peer.set(Table.INPUT, 0, words[::-1])
    async with open_device(device(peer.url)) as connection:
        assert await connection.read(block(Table.HOLDING, 0, 125)) == words
        assert await connection.read(block(Table.INPUT, 0, 125)) == words[::-1]


@pytest.mark.parametrize(
    "data",
    [
        b"\x04\x00\x01\xff\xfe",  # two registers
        b"\x00",  # none
        b"\x03\x00\x01\x02",  # an odd byte count: its last byte is not a register
        b"\x02\x12\x34\x56\x78",  # bytes after the count are ignored
        b"\x04\x00\x01",  # a count past the end of the frame
        b"\x01",  # the same, with no data at all
        b"",  # not even a count
    ],
)
@pytest.mark.parametrize(
    ("ours", "stock"),
    [
        (_HoldingRegisters, ReadHoldingRegistersResponse),
        (_InputRegisters, ReadInputRegistersResponse),
    ],
)
def test_register_answers_decode_as_pymodbus_decodes_them(
    data: bytes, ours: type[ModbusPDU], stock: type[ModbusPDU]
) -> None:
    """The client's register answers (one unpack per answer) take from a frame exactly
    what pymodbus's own classes take, and refuse what they refuse."""

    def decoded(kind: type[ModbusPDU]) -> list[int] | str:
        pdu = kind()
        try:
            pdu.decode(data)
        except Exception as exc:  # noqa: BLE001 - the kind of refusal is compared
            return type(exc).__name__
        return list(pdu.registers)

    assert decoded(ours) == decoded(stock)
    assert ours.function_code == stock.function_code


async def test_writes_registers_and_coils(peer: PymodbusServer | PeerServer) -> None:
    async with open_device(device(peer.url)) as connection:
        await connection.write(holding(5), [0xBEEF])
        await connection.write(holding(6, DataType.FLOAT64), [1, 2, 3, 4])
        await connection.write(Tag("c", Table.COIL, 7, DataType.BOOL), True)
        assert peer.get(Table.HOLDING, 5, 5) == [0xBEEF, 1, 2, 3, 4]
        assert peer.get(Table.COIL, 6, 3) == [False, True, False]
        await connection.write(Tag("c", Table.COIL, 7, DataType.BOOL), False)
        assert peer.get(Table.COIL, 7) == [False]


async def test_writes_use_fc6_for_one_register_fc16_for_several_fc5_for_a_coil(
    modbus_tcp_server: PymodbusServer,
) -> None:
    async with open_device(device(modbus_tcp_server.url)) as connection:
        await connection.write(holding(0), [1])
        await connection.write(holding(1, DataType.INT32), [2, 3])
        await connection.write(Tag("c", Table.COIL, 0, DataType.BOOL), True)
    assert modbus_tcp_server.store.functions(1) == [6, 16, 5]


async def test_illegal_address_on_pymodbus(modbus_tcp_server: PymodbusServer) -> None:
    modbus_tcp_server.fault(Table.HOLDING, 100, 10)  # an unmapped hole
    async with open_device(device(modbus_tcp_server.url)) as connection:
        with pytest.raises(IllegalAddress) as caught:
            await connection.read(block(Table.HOLDING, 95, 10))
        assert caught.value.code == 2
        assert str(caught.value) == (
            f"{modbus_tcp_server.url} unit 1, read holding address 95 count 10: "
            "device answered exception 2 (ILLEGAL DATA ADDRESS)"
        )
        # Below the hole the table answers.
        assert await connection.read(block(Table.HOLDING, 90, 10)) == [0] * 10


async def test_illegal_address_on_pymodbustcp(pymodbustcp_server: PeerServer) -> None:
    async with open_device(device(pymodbustcp_server.url)) as connection:
        with pytest.raises(IllegalAddress) as caught:
            await connection.read(block(Table.INPUT, PEER_TABLE_SIZE - 5, 10))
        assert caught.value.code == 2
        with pytest.raises(IllegalAddress):
            await connection.write(holding(PEER_TABLE_SIZE), [1])


async def test_other_exception_is_rejected(peer: PymodbusServer | PeerServer) -> None:
    peer.fault(Table.HOLDING, 0, 10, code=4)
    async with open_device(device(peer.url)) as connection:
        with pytest.raises(Rejected) as caught:
            await connection.read(block(Table.HOLDING, 8, 4))
        assert type(caught.value) is Rejected
        assert caught.value.code == 4
        assert str(caught.value) == (
            f"{peer.url} unit 1, read holding address 8 count 4: "
            "device answered exception 4 (SERVER DEVICE FAILURE)"
        )
        with pytest.raises(Rejected) as caught:
            await connection.write(holding(9, DataType.INT32), [1, 2])
        assert caught.value.code == 4


async def test_gateway_exception_means_unit_unavailable(
    modbus_tcp_server: PymodbusServer,
) -> None:
    modbus_tcp_server.fault(Table.INPUT, 0, 1, code=11, unit=2)
    async with open_device(device(modbus_tcp_server.url, unit=2)) as connection:
        with pytest.raises(Unavailable, match=r"exception 11 \(GATEWAY TARGET DEVICE FAILED"):
            await connection.read(block(Table.INPUT, 0, 1))


async def test_server_stopped_then_restarted_on_the_same_connection(
    modbus_tcp_server: PymodbusServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.modbus.client")
    modbus_tcp_server.set(Table.HOLDING, 0, [42])
    async with open_device(device(modbus_tcp_server.url, timeout_s=1.0)) as connection:
        assert await connection.read(block(Table.HOLDING, 0, 1)) == [42]
        await modbus_tcp_server.stop()
        await wait_until(lambda: not connection.connected, 5.0, "the client to see the close")
        for _ in range(3):
            with Stopwatch() as watch, pytest.raises(Unavailable, match="cannot connect to"):
                await connection.read(block(Table.HOLDING, 0, 1))
            assert watch.seconds < 1.0  # refused at once, well within the timeout
        assert not connection.connected

        await modbus_tcp_server.start()
        assert await connection.read(block(Table.HOLDING, 0, 1)) == [42]
        assert connection.connected

    link = modbus_tcp_server.url
    ours = [
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "drivers.modbus.client"
    ]
    # One WARNING for the outage however many requests failed, one INFO when it ends.
    assert ours[:2] == [
        ("INFO", f"link {link} connected"),
        ("WARNING", f"link {link} down: connection lost"),
    ]
    assert len(ours) == 3
    assert ours[2][0] == "INFO"
    assert ours[2][1].startswith(f"link {link} recovered after ")


async def test_never_reachable_device_is_unavailable(
    modbus_tcp_server: PymodbusServer,
) -> None:
    url = modbus_tcp_server.url
    await modbus_tcp_server.stop()  # nothing listens on that port now
    async with open_device(device(url, timeout_s=1.0)) as connection:
        assert not connection.connected  # open_device does no I/O
        with pytest.raises(Unavailable) as caught:
            await connection.read(block(Table.COIL, 3, 2))
    assert str(caught.value) == (
        f"{url} unit 1, read coil address 3 count 2: cannot connect to the link"
    )


async def test_connection_lost_mid_request_ends_it_before_its_timeout(
    modbus_tcp_server: PymodbusServer,
) -> None:
    modbus_tcp_server.store.delay_s[1] = 30.0  # the device takes its time...
    async with open_device(device(modbus_tcp_server.url, timeout_s=20.0)) as connection:
        reading = asyncio.ensure_future(connection.read(block(Table.HOLDING, 0, 1)))
        await wait_until(lambda: bool(modbus_tcp_server.store.received), 5.0, "the request")
        await modbus_tcp_server.stop()  # ...and loses power meanwhile
        with pytest.raises(Unavailable, match="connection lost before the answer"):
            await asyncio.wait_for(reading, 5.0)


async def test_dead_unit_costs_only_its_own_timeout(modbus_tcp_server: PymodbusServer) -> None:
    store = modbus_tcp_server.store
    store.dead.add(2)
    store.set(1, Table.HOLDING, 0, [11])
    url = modbus_tcp_server.url
    async with (
        open_device(device(url, unit=1, timeout_s=2.0)) as live,
        open_device(device(url, unit=2, timeout_s=0.3)) as dead,
    ):
        with Stopwatch() as watch, pytest.raises(Unavailable, match=r"unit 2, .*: no answer"):
            await dead.read(block(Table.HOLDING, 0, 1))
        assert 0.3 <= watch.seconds < 0.3 + SLACK_S
        assert await live.read(block(Table.HOLDING, 0, 1)) == [11]
        assert live.round_trip_s is not None
        assert live.round_trip_s < SLACK_S

        # Queued behind the dead unit, the live unit still gets its full timeout.
        outcomes = await asyncio.gather(
            dead.read(block(Table.HOLDING, 0, 1)),
            live.read(block(Table.HOLDING, 0, 1)),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], Unavailable)
        assert outcomes[1] == [11]

        # pymodbus' own timeout handling would drop the connection after 4 missed answers
        # in a row (retries + 3), cutting off the live unit too; ours never does.
        for _ in range(3):
            with pytest.raises(Unavailable):
                await dead.read(block(Table.HOLDING, 0, 1))
        assert modbus_tcp_server.connections == 1
        assert live.connected
        assert await live.read(block(Table.HOLDING, 0, 1)) == [11]


async def test_units_at_one_host_port_share_one_connection(
    modbus_tcp_server: PymodbusServer,
) -> None:
    store = modbus_tcp_server.store
    for unit in (1, 2, 3):
        store.set(unit, Table.INPUT, 0, [unit * 100])
    url = modbus_tcp_server.url
    async with (
        open_device(device(url, unit=1)) as one,
        open_device(device(url, unit=2)) as two,
        open_device(device(url, unit=3)) as three,
    ):
        results = await asyncio.gather(
            *(c.read(block(Table.INPUT, 0, 1)) for c in (one, two, three))
        )
        assert results == [[100], [200], [300]]
        assert modbus_tcp_server.connections == 1
    # The link closes with its last device.
    await wait_until(lambda: modbus_tcp_server.connections == 0, 5.0, "the link to close")


async def test_a_device_closing_keeps_the_link_for_the_others(
    modbus_tcp_server: PymodbusServer,
) -> None:
    url = modbus_tcp_server.url
    async with open_device(device(url, unit=1)) as staying:
        async with open_device(device(url, unit=2)) as leaving:
            await leaving.read(block(Table.HOLDING, 0, 1))
        assert staying.connected
        assert await staying.read(block(Table.HOLDING, 0, 1)) == [0]
        assert modbus_tcp_server.connections == 1


async def test_each_host_port_gets_its_own_connection(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
) -> None:
    first, second = await modbus_server_factory(), await modbus_server_factory()
    first.set(Table.HOLDING, 0, [1])
    second.set(Table.HOLDING, 0, [2])
    async with (
        open_device(device(first.url)) as a,
        open_device(device(second.url)) as b,
    ):
        assert await a.read(block(Table.HOLDING, 0, 1)) == [1]
        assert await b.read(block(Table.HOLDING, 0, 1)) == [2]
        assert (first.connections, second.connections) == (1, 1)


async def test_one_link_cannot_be_opened_with_two_framings(
    modbus_tcp_server: PymodbusServer,
) -> None:
    rtu_url = modbus_tcp_server.url.replace("modbus-tcp", "rtu-over-tcp")
    async with open_device(device(modbus_tcp_server.url)):
        with pytest.raises(ValueError, match="same physical link") as caught:
            async with open_device(device(rtu_url)):
                pass
    assert str(caught.value) == (
        f"{rtu_url} and {modbus_tcp_server.url} are the same physical link "
        f"(tcp:127.0.0.1:{modbus_tcp_server.port}) with different settings; "
        "devices on one link must use the same URL"
    )


async def test_rtu_over_tcp_reads_and_writes(rtu_over_tcp_server: PymodbusServer) -> None:
    rtu_over_tcp_server.set(Table.INPUT, 3, [7, 8, 9], unit=3)
    async with open_device(device(rtu_over_tcp_server.url, unit=3)) as connection:
        assert await connection.read(block(Table.INPUT, 3, 3)) == [7, 8, 9]
        await connection.write(holding(0, DataType.STRING, length=4), [0x4142, 0x4344])
        await connection.write(Tag("c", Table.COIL, 1, DataType.BOOL), True)
    assert rtu_over_tcp_server.get(Table.HOLDING, 0, 2, unit=3) == [0x4142, 0x4344]
    assert rtu_over_tcp_server.get(Table.COIL, 0, 2, unit=3) == [False, True]


async def test_late_answer_from_one_unit_is_not_taken_for_another(
    any_framing_server: PymodbusServer,
) -> None:
    server = any_framing_server
    store = server.store
    store.set(1, Table.HOLDING, 0, [1, 1])
    store.set(2, Table.HOLDING, 0, [2, 2])
    store.delay_s[2] = 0.6  # answers 0.3 s after its timeout...
    store.delay_s[1] = 0.6  # ...while unit 1's request is waiting for its own answer
    async with (
        open_device(device(server.url, unit=1, timeout_s=3.0)) as one,
        open_device(device(server.url, unit=2, timeout_s=0.3)) as two,
    ):
        with pytest.raises(Unavailable, match="no answer within 0.3 s"):
            await two.read(block(Table.HOLDING, 0, 2))
        assert await one.read(block(Table.HOLDING, 0, 2)) == [1, 1]


async def test_rtu_unit_that_timed_out_is_not_asked_again_until_its_late_answer_is_past(
    rtu_over_tcp_server: PymodbusServer,
) -> None:
    store = rtu_over_tcp_server.store
    store.set(1, Table.HOLDING, 0, [10, 10])
    store.set(1, Table.HOLDING, 100, [20, 20])
    store.delay_s[1] = 0.5
    async with open_device(device(rtu_over_tcp_server.url, timeout_s=0.3)) as connection:
        with pytest.raises(Unavailable, match="no answer within 0.3 s"):
            await connection.read(block(Table.HOLDING, 0, 2))
        # Its late answer [10, 10] would pass for the answer to this request: not sent.
        with pytest.raises(Unavailable, match="not sent, the unit's previous request"):
            await connection.read(block(Table.HOLDING, 100, 2))
        assert store.functions(1) == [3]

        store.delay_s[1] = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while True:
            try:
                values = await connection.read(block(Table.HOLDING, 100, 2))
                break
            except Unavailable:
                assert loop.time() < deadline, "the unit was never asked again"
                await asyncio.sleep(0.01)
        assert values == [20, 20]


async def test_tcp_unit_that_timed_out_is_asked_again_at_once(
    modbus_tcp_server: PymodbusServer,
) -> None:
    # MBAP transaction ids tell a late answer apart, so there is nothing to wait for.
    store = modbus_tcp_server.store
    store.set(1, Table.HOLDING, 100, [20])
    store.delay_s[1] = 0.5
    async with open_device(device(modbus_tcp_server.url, timeout_s=0.3)) as connection:
        with pytest.raises(Unavailable):
            await connection.read(block(Table.HOLDING, 0, 1))
        store.delay_s[1] = 0
        assert await connection.read(block(Table.HOLDING, 100, 1)) == [20]


@pytest.mark.parametrize(
    ("tag", "raw", "message"),
    [
        (
            Tag("in", Table.INPUT, 0, DataType.UINT16),
            [1],
            "tag 'in': table input is read-only; only holding registers and coils can be written",
        ),
        (
            Tag("di", Table.DISCRETE, 0, DataType.BOOL),
            True,
            "tag 'di': table discrete is read-only; only holding registers and coils can be "
            "written",
        ),
        (Tag("c", Table.COIL, 0, DataType.BOOL), [1], "tag 'c': a coil takes one bool (got [1])"),
        (
            holding(0, DataType.INT32),
            [1],
            "tag 't0': int32 at holding 0 takes 2 register(s) (got 1)",
        ),
        (holding(0), True, "tag 't0': holding registers take a list of ints, not a bool"),
        (holding(0), [65536], "tag 't0': registers must be 0..65535 (got [65536])"),
    ],
)
async def test_bad_writes_are_value_errors_before_any_io(
    modbus_tcp_server: PymodbusServer, tag: Tag, raw: list[int] | bool, message: str
) -> None:
    async with open_device(device(modbus_tcp_server.url)) as connection:
        with pytest.raises(ValueError, match=exactly(message)):
            await connection.write(tag, raw)
    assert modbus_tcp_server.store.received == []


@pytest.mark.parametrize(
    ("table", "start", "count", "message"),
    [
        (Table.HOLDING, 0, 126, "read holding address 0 count 126: count must be 1..125"),
        (Table.COIL, 0, 2001, "read coil address 0 count 2001: count must be 1..2000"),
        (Table.INPUT, 0, 0, "read input address 0 count 0: count must be 1..125"),
        (Table.INPUT, 65530, 7, "read input address 65530 count 7: past address 65535"),
    ],
)
async def test_blocks_over_the_protocol_limits_are_value_errors(
    modbus_tcp_server: PymodbusServer, table: Table, start: int, count: int, message: str
) -> None:
    async with open_device(device(modbus_tcp_server.url)) as connection:
        with pytest.raises(ValueError, match=exactly(f"{modbus_tcp_server.url} unit 1, {message}")):
            await connection.read(block(table, start, count))
    assert modbus_tcp_server.store.received == []


async def test_block_unit_is_ignored_in_favour_of_the_device_unit(
    modbus_tcp_server: PymodbusServer,
) -> None:
    modbus_tcp_server.set(Table.HOLDING, 0, [3], unit=3)
    async with open_device(device(modbus_tcp_server.url, unit=3)) as connection:
        assert await connection.read(ReadBlock(9, Table.HOLDING, 0, 1)) == [3]
    assert modbus_tcp_server.store.functions(3) == [3]


@pytest.mark.parametrize(
    ("unit", "timeout_s", "url", "message"),
    [
        (0, 1.0, "modbus-rtu:///dev/ttyS0", "unit must be 1..247 (got 0)"),
        (248, 1.0, "rtu-over-tcp://h:4001", "unit must be 1..247 (got 248)"),
        (256, 1.0, "modbus-tcp://h", "unit must be 0..255 (got 256)"),
        (1, 0.0, "modbus-tcp://h", "timeout_s must be a positive number (got 0.0)"),
        (1, float("nan"), "modbus-tcp://h", "timeout_s must be a positive number (got nan)"),
    ],
)
def test_device_settings_are_validated(unit: int, timeout_s: float, url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DeviceSettings(LinkSettings.parse(url), unit, timeout_s)


def test_tcp_unit_zero_is_allowed() -> None:
    # Many Modbus TCP devices answer unit 0 (or 255) only.
    assert DeviceSettings(LinkSettings.parse("modbus-tcp://h"), 0, 1.0).unit == 0


@pytest.mark.parametrize(
    ("url", "expected", "key"),
    [
        ("modbus-tcp://10.0.0.5", LinkSettings(Scheme.TCP, "10.0.0.5", 502), "tcp:10.0.0.5:502"),
        ("modbus-tcp://PLC.local:1502", LinkSettings(Scheme.TCP, "plc.local", 1502), None),
        ("modbus-tcp://[::1]:502/", LinkSettings(Scheme.TCP, "::1", 502), "tcp:[::1]:502"),
        (
            "rtu-over-tcp://10.0.0.6:4001",
            LinkSettings(Scheme.RTU_OVER_TCP, "10.0.0.6", 4001),
            "tcp:10.0.0.6:4001",
        ),
        (
            "modbus-rtu:///dev/ttyUSB0",
            LinkSettings(Scheme.RTU, device="/dev/ttyUSB0"),
            "serial:/dev/ttyUSB0",
        ),
        (
            "modbus-rtu:///dev/ttyUSB0?baudrate=19200&parity=e&stopbits=2&bytesize=8",
            LinkSettings(Scheme.RTU, device="/dev/ttyUSB0", baudrate=19200, parity="E", stopbits=2),
            "serial:/dev/ttyUSB0",
        ),
    ],
)
def test_link_urls_parse(url: str, expected: LinkSettings, key: str | None) -> None:
    parsed = LinkSettings.parse(url)
    assert parsed == expected
    if key is not None:
        assert parsed.key == key
    assert LinkSettings.parse(str(parsed)) == parsed  # str() is a canonical URL


def test_serial_defaults_are_9600_8n1() -> None:
    link = LinkSettings.parse("modbus-rtu:///dev/ttyS1")
    assert (link.baudrate, link.parity, link.stopbits, link.bytesize) == (9600, "N", 1, 8)
    assert str(link) == "modbus-rtu:///dev/ttyS1?baudrate=9600&parity=N&stopbits=1&bytesize=8"


def test_devices_behind_one_converter_share_a_key_and_rtu_framing_is_known() -> None:
    a = LinkSettings.parse("rtu-over-tcp://10.0.0.6:4001")
    assert a.key == LinkSettings.parse("modbus-tcp://10.0.0.6:4001").key
    assert a.rtu_framed
    assert LinkSettings.parse("modbus-rtu:///dev/ttyS0").rtu_framed
    assert not LinkSettings.parse("modbus-tcp://10.0.0.6").rtu_framed


EXPECTED = (
    "expected modbus-tcp://host[:port], rtu-over-tcp://host:port "
    "or modbus-rtu:///dev/<port>[?baudrate=&parity=&stopbits=&bytesize=]"
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", f"link URL is empty; {EXPECTED}"),
        ("10.0.0.5:502", f"'10.0.0.5:502': missing scheme; {EXPECTED}"),
        ("tcp://10.0.0.5", f"'tcp://10.0.0.5': unknown link scheme 'tcp'; {EXPECTED}"),
        ("modbus-tcp://", "'modbus-tcp://': missing host; expected modbus-tcp://host[:port]"),
        (
            "modbus-tcp://h:http",
            "'modbus-tcp://h:http': port must be an integer 1..65535 (got 'http')",
        ),
        (
            "modbus-tcp://h:65536",
            "'modbus-tcp://h:65536': port must be an integer 1..65535 (got '65536')",
        ),
        ("modbus-tcp://h:0", "'modbus-tcp://h:0': port must be an integer 1..65535 (got '0')"),
        (
            "modbus-tcp://h/unit/1",
            "'modbus-tcp://h/unit/1': unexpected path '/unit/1'; expected modbus-tcp://host[:port]",
        ),
        (
            "modbus-tcp://h?unit=1",
            "'modbus-tcp://h?unit=1': modbus-tcp links take no options (got 'unit=1'); "
            "expected modbus-tcp://host[:port]",
        ),
        (
            "modbus-tcp://admin:pw@h",
            "'modbus-tcp://admin:pw@h': user and password are not supported; "
            "expected modbus-tcp://host[:port]",
        ),
        (
            "modbus-tcp://h#x",
            f"'modbus-tcp://h#x': unexpected fragment 'x'; {EXPECTED}",
        ),
        (
            "rtu-over-tcp://10.0.0.6",
            "'rtu-over-tcp://10.0.0.6': missing port; serial converters have no standard port, "
            "expected rtu-over-tcp://host:port",
        ),
        (
            "modbus-rtu://dev/ttyUSB0",
            "'modbus-rtu://dev/ttyUSB0': the serial port must be an absolute path after three "
            "slashes, e.g. modbus-rtu:///dev/ttyUSB0",
        ),
        (
            "modbus-rtu://",
            "'modbus-rtu://': the serial port must be an absolute path after three slashes, "
            "e.g. modbus-rtu:///dev/ttyUSB0",
        ),
        (
            "modbus-rtu:///dev/ttyS0?baud=9600",
            "'modbus-rtu:///dev/ttyS0?baud=9600': unknown option 'baud'; "
            "expected baudrate, parity, stopbits, bytesize",
        ),
        (
            "modbus-rtu:///dev/ttyS0?baudrate=fast",
            "'modbus-rtu:///dev/ttyS0?baudrate=fast': baudrate must be a positive integer "
            "(got 'fast')",
        ),
        (
            "modbus-rtu:///dev/ttyS0?baudrate=0",
            "'modbus-rtu:///dev/ttyS0?baudrate=0': baudrate must be a positive integer (got '0')",
        ),
        (
            "modbus-rtu:///dev/ttyS0?parity=M",
            "'modbus-rtu:///dev/ttyS0?parity=M': parity must be one of N, E, O (got 'M')",
        ),
        (
            "modbus-rtu:///dev/ttyS0?stopbits=1.5",
            "'modbus-rtu:///dev/ttyS0?stopbits=1.5': stopbits must be one of 1, 2 (got '1.5')",
        ),
        (
            "modbus-rtu:///dev/ttyS0?bytesize=7",
            "'modbus-rtu:///dev/ttyS0?bytesize=7': bytesize must be 8 (got '7')",
        ),
        (
            "modbus-rtu:///dev/ttyS0?parity=E&parity=O",
            "'modbus-rtu:///dev/ttyS0?parity=E&parity=O': option 'parity' given twice",
        ),
        (
            "modbus-rtu:///dev/ttyS0?19200",
            "'modbus-rtu:///dev/ttyS0?19200': options must look like baudrate=19200&parity=E "
            "(got '19200')",
        ),
    ],
)
def test_bad_link_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        LinkSettings.parse(url)
