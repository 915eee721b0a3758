"""The Modbus client adapter: the only module, with the simulator, that imports pymodbus.

Decisions, in the order a reader will wonder about them:

- **One physical link, one connection, one queue.** Devices whose `LinkSettings.key` is
  equal share one pymodbus client and one lock, so requests on a link are strictly
  serialised. That covers units behind one serial port or one RTU-over-TCP converter, and
  also several unit ids at one ``modbus-tcp`` host:port: that is a gateway in front of a
  bus, and most gateways accept only a handful of TCP connections. Links are ref-counted
  and closed when their last device closes.
- **One retry layer.** pymodbus runs with ``retries=0`` and ``reconnect_delay=0`` (no
  reconnect task). The deadline is ours, per device (``asyncio.timeout``), so pymodbus
  never times out itself, never logs a timeout and never drops a connection because one
  unit stopped answering. The gateway runtime owns retries and backoff.
- **Connect on demand.** `open_device` does no I/O. A request on a link that is not
  connected makes one connection attempt, inside that request's timeout. A connection
  the device closes while it is being made fails the request at once and is dropped
  (pymodbus would keep it as connected); a deadline that passes as it is made is a
  timeout (pymodbus's `wait_for` may have swallowed its cancellation).
- **The timeout covers the device's own time**, not the wait for the link's queue: a dead
  unit costs its own timeout once, and the request queued behind it gets its full timeout.
- **Errors are translated here and nothing from pymodbus escapes**:
  exception response 2 -> `IllegalAddress`; 10 and 11 (a gateway saying the unit behind it
  is unreachable) -> `Unavailable`; any other exception code -> `Rejected`; no answer,
  refused or lost connection, a host name the resolver refuses, OSError, pymodbus
  connection/IO errors -> `Unavailable`; an answer that does not match its request
  (function code, count, echoed address) -> `Unavailable` as well: the link is out of
  step, which retrying cures and which the runtime must not treat as a bug. A request no
  device may be asked (a block past the protocol limits, a write that does not fit its
  tag) -> ValueError: a bug in the caller.
- **Late answers.** Modbus TCP answers carry the request's transaction id; pymodbus drops
  any other. RTU frames carry only the unit id: pymodbus drops a late answer from another
  unit, and clears its receive buffer before each request, but would take a late answer
  from the *same* unit for the answer to its next request. So on RTU framed links (serial
  and RTU-over-TCP) a unit that timed out is not asked again until one more timeout has
  passed (requests to it fail at once with `Unavailable`), and every answer is checked
  against its request. Other units on the link are not held up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from drivers.base import IllegalAddress, ReadBlock, Rejected, Table, Tag, Unavailable
from drivers.modbus.link import LinkSettings, Scheme

logger = logging.getLogger(__name__)

# Out of reach on purpose: our per-device deadline always fires first (see module doc).
# Serial links only: pyserial takes it as its read and write timeout too.
_LIBRARY_TIMEOUT_S = 3600.0
# TCP links: no timeout at all. pymodbus passes it to `asyncio.wait_for`, which with None
# awaits the answer directly. With a number it adds a waiter future, a timer that is
# cancelled at once and one more pass of the event loop to every request, about a tenth
# of a read's CPU (issue #17); and it can swallow our deadline's cancellation (CPython
# gh-86296), which `wait_for(..., None)` cannot.
_NO_LIBRARY_TIMEOUT = None

# Modbus Application Protocol V1.1b3 §7.
_EXCEPTION_NAMES = {
    1: "ILLEGAL FUNCTION",
    2: "ILLEGAL DATA ADDRESS",
    3: "ILLEGAL DATA VALUE",
    4: "SERVER DEVICE FAILURE",
    5: "ACKNOWLEDGE",
    6: "SERVER DEVICE BUSY",
    8: "MEMORY PARITY ERROR",
    10: "GATEWAY PATH UNAVAILABLE",
    11: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}
_ILLEGAL_DATA_ADDRESS = 2
_GATEWAY_UNREACHABLE = frozenset({10, 11})

_READ_CODES = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
_WRITE_COIL, _WRITE_REGISTER, _WRITE_REGISTERS = 5, 6, 16
# Modbus Application Protocol V1.1b3 §6.1-6.4 and §6.12: the most one request may carry.
_MAX_READ = {Table.COIL: 2000, Table.DISCRETE: 2000, Table.HOLDING: 125, Table.INPUT: 125}
_MAX_WRITE_REGISTERS = 123
_ADDRESS_SPACE = 0x10000
# Modbus over Serial Line V1.02 §2.2: 0 is broadcast (never answered), 248..255 reserved.
_RTU_UNITS = range(1, 248)
_TCP_UNITS = range(256)


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """One device: a unit behind a link, and how long to wait for each of its answers."""

    link: LinkSettings
    unit: int
    timeout_s: float

    def __post_init__(self) -> None:
        units = _RTU_UNITS if self.link.rtu_framed else _TCP_UNITS
        if self.unit not in units:
            raise ValueError(
                f"{self.link}: unit must be {units.start}..{units.stop - 1} (got {self.unit})"
            )
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number (got {self.timeout_s!r})")


@dataclass(frozen=True, slots=True)
class _Request:
    """What was asked, for checking the answer and for error messages."""

    op: str
    table: Table
    address: int
    count: int
    function_code: int


class _Link:
    """One physical link: one pymodbus client, one request queue, its up/down state."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.name = str(settings)
        self.users = 0
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._client = client = _new_client(settings, self._on_connection_change)
        self.readers = {
            Table.COIL: client.read_coils,
            Table.DISCRETE: client.read_discrete_inputs,
            Table.HOLDING: client.read_holding_registers,
            Table.INPUT: client.read_input_registers,
        }
        self._deadline: asyncio.Timeout | None = None
        self._lost = False
        self._was_up = False
        self._down_since: float | None = None
        # RTU framed links only: unit -> loop time until which its late answer may arrive.
        self._late_until: dict[int, float] = {}

    @property
    def client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        return self._client

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def transact(
        self,
        unit: int,
        timeout_s: float,
        request: _Request,
        send: Callable[[], Awaitable[ModbusPDU]],
    ) -> tuple[ModbusPDU, float]:
        """Send one request in turn; return the matching answer and its round-trip time."""
        async with self._lock:
            if self._late_until:
                self._refuse_if_late(unit, request)
            connecting = False
            try:
                async with asyncio.timeout(timeout_s) as deadline:
                    self._deadline = deadline
                    self._lost = False
                    if not self._client.connected:
                        connecting = True
                        await self._connect(unit, request)
                        if deadline.expired():
                            # The deadline passed as the connection was made, and the
                            # wait_for inside pymodbus's connect swallowed its cancellation
                            # (CPython gh-86296, fixed in 3.12): nothing would end the
                            # request, which would wait pymodbus's own hour for its answer.
                            raise TimeoutError
                        connecting = False
                    started = self._loop.time()
                    response = await send()
            except TimeoutError:
                raise self._no_answer(unit, request, timeout_s, connecting) from None
            except (ModbusException, OSError) as exc:
                raise Unavailable(f"{_context(self, unit, request)}: {exc}") from exc
            finally:
                self._deadline = None
            round_trip_s = self._loop.time() - started
            problem = _mismatch(request, response, mbap=not self.settings.rtu_framed)
            if problem is not None:
                self._expect_late(unit, timeout_s)
                raise Unavailable(f"{_context(self, unit, request)}: {problem}")
            self._answered()
            return response, round_trip_s

    def close(self) -> None:
        self._client.close()
        logger.debug("link %s closed", self.name)

    async def _connect(self, unit: int, request: _Request) -> None:
        try:
            connected = await self._client.connect()
        except ValueError as exc:
            # The resolver refuses the host name before any I/O: UnicodeError from the IDNA
            # codec (an empty label, "plc1..plant"), ValueError for a NUL. pymodbus lets
            # both through; to the runtime it is a link that cannot come up (issue #17).
            self._mark_down(f"host name {self.settings.host!r} cannot be resolved")
            raise Unavailable(
                f"{_context(self, unit, request)}: host name {self.settings.host!r} cannot "
                f"be resolved ({exc}); expected a DNS name or an IP address"
            ) from exc
        if connected and self._lost:
            # The device closed the connection while pymodbus was still connecting (one
            # with every connection slot taken does it at once): pymodbus 3.16's
            # ModbusProtocol.connect stores the transport after connection_lost cleared
            # it, so the closed transport would count as connected for good and every
            # request would wait out its timeout in it, even once the device serves again.
            # Dropping it here makes the next request connect afresh (issue #14).
            self._client.close()
            raise Unavailable(f"{_context(self, unit, request)}: connection lost as it was made")
        if connected:
            return
        self._mark_down("cannot connect")
        verb = "open" if self.settings.scheme is Scheme.RTU else "connect to"
        raise Unavailable(f"{_context(self, unit, request)}: cannot {verb} the link")

    def _no_answer(
        self, unit: int, request: _Request, timeout_s: float, connecting: bool
    ) -> Unavailable:
        where = _context(self, unit, request)
        if self._lost:
            return Unavailable(f"{where}: connection lost before the answer")
        if connecting:
            self._mark_down(f"no connection within {timeout_s:g} s")
            return Unavailable(f"{where}: cannot connect within {timeout_s:g} s")
        self._expect_late(unit, timeout_s)
        return Unavailable(f"{where}: no answer within {timeout_s:g} s")

    def _expect_late(self, unit: int, timeout_s: float) -> None:
        if self.settings.rtu_framed:
            self._late_until[unit] = self._loop.time() + timeout_s

    def _refuse_if_late(self, unit: int, request: _Request) -> None:
        until = self._late_until.get(unit)
        if until is None:
            return
        wait_s = until - self._loop.time()
        if wait_s <= 0:
            del self._late_until[unit]
            return
        raise Unavailable(
            f"{_context(self, unit, request)}: not sent, the unit's previous request went "
            f"unanswered and a late answer could still arrive (RTU frames carry no "
            f"transaction id); next try in {wait_s:.2f} s"
        )

    def _answered(self) -> None:
        """The device answered: the link is up (logged when that is news)."""
        if self._down_since is not None:
            outage_s = self._loop.time() - self._down_since
            logger.info("link %s recovered after %.1f s", self.name, outage_s)
        elif not self._was_up:
            logger.info("link %s connected", self.name)
        self._down_since = None
        self._was_up = True

    def _on_connection_change(self, connected: bool) -> None:
        now = self._loop.time()
        if connected:
            # Up only once the device answers (`_answered`): one that accepts connections
            # and drops them (slots full) would log a recovery and a loss every retry.
            logger.debug("link %s connection made", self.name)
            return
        self._lost = True
        if self._deadline is not None and not self._deadline.expired():
            # End the request in flight now rather than at its deadline.
            self._deadline.reschedule(now)
        self._mark_down("connection lost")

    def _mark_down(self, reason: str) -> None:
        if self._down_since is None:
            self._down_since = self._loop.time()
            logger.warning("link %s down: %s", self.name, reason)
        else:
            logger.debug("link %s still down: %s", self.name, reason)


def _unpack_registers(pdu: ModbusPDU, data: bytes) -> None:
    """A register answer's data (byte count, then big-endian words) into `pdu.registers`.

    What pymodbus 3.16's own register responses take from `data`, as one `struct` unpack
    instead of one per register and a list grown by appends: at 45 registers, most of the
    decoding of an answer (issue #17; bench/README.md).
    """
    byte_count = data[0]
    if byte_count >= len(data):
        raise ModbusIOException(
            f"byte_count {byte_count} > length of packet {len(data)}",
            function_code=pdu.function_code,
        )
    pdu.registers = list(struct.unpack_from(f">{byte_count // 2}H", data, 1))


def _summary(pdu: ModbusPDU) -> str:
    # pymodbus formats every answer it decodes for a debug line, logged or not: the
    # registers are left out of it (their count says enough for a trace).
    return (
        f"{type(pdu).__name__}(dev_id={pdu.dev_id}, transaction_id={pdu.transaction_id}, "
        f"{len(pdu.registers)} registers)"
    )


class _HoldingRegisters(ReadHoldingRegistersResponse):
    """Function 3's answer, decoded by `_unpack_registers`."""

    decode = _unpack_registers
    __str__ = _summary


class _InputRegisters(ReadInputRegistersResponse):
    """Function 4's answer, decoded by `_unpack_registers`."""

    decode = _unpack_registers
    __str__ = _summary


def _new_client(
    settings: LinkSettings, on_change: Callable[[bool], None]
) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    client = _bare_client(settings, on_change)
    # pymodbus's documented way to decode a function's answers with another class.
    client.register(_HoldingRegisters)
    client.register(_InputRegisters)
    return client


def _bare_client(
    settings: LinkSettings, on_change: Callable[[bool], None]
) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    if settings.scheme is Scheme.RTU:
        return AsyncModbusSerialClient(
            settings.device,
            framer=FramerType.RTU,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            name=str(settings),
            reconnect_delay=0,
            timeout=_LIBRARY_TIMEOUT_S,
            retries=0,
            trace_connect=on_change,
        )
    return AsyncModbusTcpClient(
        settings.host,
        port=settings.port,
        framer=FramerType.RTU if settings.scheme is Scheme.RTU_OVER_TCP else FramerType.SOCKET,
        name=str(settings),
        reconnect_delay=0,
        timeout=_NO_LIBRARY_TIMEOUT,  # type: ignore[arg-type]  # typed float; None is waited on
        retries=0,
        trace_connect=on_change,
    )


def _context(link: _Link, unit: int, request: _Request) -> str:
    return (
        f"{link.name} unit {unit}, {request.op} {request.table} "
        f"address {request.address} count {request.count}"
    )


def _mismatch(request: _Request, response: ModbusPDU, mbap: bool) -> str | None:
    """Why the answer cannot be the answer to this request, or None if it can."""
    if mbap and response.transaction_id == 0:
        # pymodbus 3.16 drops an MBAP answer with another transaction id, except 0 (which
        # it lets through for the RTU framers), and numbers its own requests from 1: an
        # answer with 0 answers none of them (issue #14, tests/gateway/runtime/
        # test_modbus_answers_fuzz.py).
        return "answer carries transaction id 0, which no request had"
    code = response.function_code
    if response.isError():
        if code & 0x7F != request.function_code:
            return f"answer is an exception to function {code & 0x7F}, not {request.function_code}"
        return None
    if code != request.function_code:
        return f"answer is for function {code}, not {request.function_code}"
    if request.function_code in (1, 2):
        # Bits travel packed in whole bytes: up to 7 bits of padding follow the last one.
        if not request.count <= len(response.bits) < request.count + 8:
            return f"answer holds {len(response.bits)} bits for {request.count} requested"
    elif request.function_code in (3, 4):
        if len(response.registers) != request.count:
            return f"answer holds {len(response.registers)} registers for {request.count} requested"
    elif response.address != request.address:
        return f"answer confirms address {response.address}, not {request.address}"
    return None


def _rejection(link: _Link, unit: int, request: _Request, code: int) -> Exception:
    name = _EXCEPTION_NAMES.get(code, "unknown")
    message = f"{_context(link, unit, request)}: device answered exception {code} ({name})"
    if code == _ILLEGAL_DATA_ADDRESS:
        return IllegalAddress(message, code)
    if code in _GATEWAY_UNREACHABLE:
        return Unavailable(message)
    return Rejected(message, code)


class ModbusConnection:
    """An open device: one unit behind a (possibly shared) link; a `drivers.base.Connection`.

    `round_trip_s` is the time from sending the last answered request to its answer (queue
    wait and connecting excluded); None until the device first answers.
    """

    def __init__(self, link: _Link, settings: DeviceSettings) -> None:
        self._link = link
        self._unit = settings.unit
        self._timeout_s = settings.timeout_s
        self.round_trip_s: float | None = None

    @property
    def connected(self) -> bool:
        """Whether the link is connected now (a request will try to connect if not)."""
        return self._link.connected

    async def read(self, block: ReadBlock) -> list[int] | list[bool]:
        """Read one block; `block.unit` is ignored: a connection talks to its own unit."""
        table, start, count, unit = block.table, block.start, block.count, self._unit
        request = _Request("read", table, start, count, _READ_CODES[table])
        self._check_span(request, _MAX_READ[table])
        reader = self._link.readers[table]
        response = await self._transact(request, lambda: reader(start, count=count, device_id=unit))
        if table.is_bit:
            return list(response.bits[:count])
        return list(response.registers)

    async def write(self, tag: Tag, raw: Sequence[int] | bool) -> None:
        """Write a coil (FC5), one register (FC6) or several (FC16) at the tag's address."""
        address, unit, client = tag.address, self._unit, self._link.client
        if tag.table is Table.COIL:
            if not isinstance(raw, bool):
                raise ValueError(f"tag {tag.key!r}: a coil takes one bool (got {raw!r})")
            request = _Request("write", tag.table, address, 1, _WRITE_COIL)
            self._check_span(request, 1)
            await self._transact(request, lambda: client.write_coil(address, raw, device_id=unit))
            return
        if not tag.table.is_writable:
            raise ValueError(
                f"tag {tag.key!r}: table {tag.table} is read-only; "
                "only holding registers and coils can be written"
            )
        if isinstance(raw, bool):
            raise ValueError(f"tag {tag.key!r}: holding registers take a list of ints, not a bool")
        words = list(raw)
        if len(words) != tag.width:
            raise ValueError(
                f"tag {tag.key!r}: {tag.type} at holding {address} takes {tag.width} "
                f"register(s) (got {len(words)})"
            )
        if not all(0 <= word <= 0xFFFF for word in words):
            raise ValueError(f"tag {tag.key!r}: registers must be 0..65535 (got {words})")
        if len(words) == 1:
            request = _Request("write", tag.table, address, 1, _WRITE_REGISTER)
            self._check_span(request, 1)
            await self._transact(
                request, lambda: client.write_register(address, words[0], device_id=unit)
            )
        else:
            request = _Request("write", tag.table, address, len(words), _WRITE_REGISTERS)
            self._check_span(request, _MAX_WRITE_REGISTERS)
            await self._transact(
                request, lambda: client.write_registers(address, words, device_id=unit)
            )

    def _check_span(self, request: _Request, most: int) -> None:
        """Refuse what no device may be asked (pymodbus would raise its own ValueError)."""
        if not 1 <= request.count <= most:
            problem = f"count must be 1..{most}"
        elif not 0 <= request.address < _ADDRESS_SPACE:
            problem = f"address must be 0..{_ADDRESS_SPACE - 1}"
        elif request.address + request.count > _ADDRESS_SPACE:
            problem = f"past address {_ADDRESS_SPACE - 1}"
        else:
            return
        raise ValueError(f"{_context(self._link, self._unit, request)}: {problem}")

    async def _transact(
        self, request: _Request, send: Callable[[], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        response, self.round_trip_s = await self._link.transact(
            self._unit, self._timeout_s, request, send
        )
        if response.isError():
            raise _rejection(self._link, self._unit, request, response.exception_code)
        return response


# One pool per event loop: links hold loop-bound transports and locks.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Link]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def open_device(settings: DeviceSettings) -> AsyncIterator[ModbusConnection]:
    """Open a device, sharing its link with the other open devices on it; no I/O yet."""
    link = _acquire(settings.link)
    try:
        yield ModbusConnection(link, settings)
    finally:
        _release(link)


def _acquire(settings: LinkSettings) -> _Link:
    pool = _pools.setdefault(asyncio.get_running_loop(), {})
    link = pool.get(settings.key)
    if link is None:
        link = pool[settings.key] = _Link(settings)
    elif link.settings != settings:
        raise ValueError(
            f"{settings} and {link.settings} are the same physical link ({settings.key}) "
            "with different settings; devices on one link must use the same URL"
        )
    link.users += 1
    return link


def _release(link: _Link) -> None:
    link.users -= 1
    if link.users == 0:
        del _pools[asyncio.get_running_loop()][link.settings.key]
        link.close()
