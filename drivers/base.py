"""The field model shared by every driver: data types, byte orders, tables, tags, errors,
and the one `Driver` protocol a field protocol package implements.

A driver answers "read this block now" and "write these words"; it raises only the
errors defined here, translated at its boundary from whatever its protocol library raises.
The runtime (in `gateway`) owns scheduling, retries, quality and timestamps. How to add a
protocol: drivers/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

Value: TypeAlias = bool | int | float | str
"""A tag's value in engineering units."""

BlockDecoder: TypeAlias = Callable[[Sequence[int] | Sequence[bool]], list[Value]]
"""One block's decoding: the data of one read -> its tags' values, in the block's order."""

TagProblem: TypeAlias = tuple[str, str]
"""(tag setting to fix, message), e.g. ("bit", "must be between 0 and 15 (got 16)")."""

WORD_BITS = 16  # a word is 16 bits in every protocol the field model covers


class Table(StrEnum):
    """The kind of data area a tag lives in: 16-bit words or single bits, read-only or
    writable.

    These four kinds are what field protocols offer (Modbus holding/input registers and
    coils/discrete inputs, DNP3 analog/binary outputs and inputs, BACnet values and
    inputs); a driver maps each to its own areas. The names are the configuration's words,
    which came from Modbus, the commonest of them.
    """

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def is_writable(self) -> bool:
        return self in (Table.HOLDING, Table.COIL)


class DataType(StrEnum):
    """The value types a tag can hold."""

    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"

    @property
    def fixed_words(self) -> int | None:
        """Words a value occupies; None for strings (their `length` decides)."""
        return _FIXED_WORDS[self]

    @property
    def is_numeric(self) -> bool:
        return self not in (DataType.BOOL, DataType.STRING)

    @property
    def is_float(self) -> bool:
        return self in (DataType.FLOAT32, DataType.FLOAT64)


_FIXED_WORDS: dict[DataType, int | None] = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
    DataType.STRING: None,
}


class ByteOrder(StrEnum):
    """Word order x byte-in-word order; the same four names cover 16, 32, 64 bits and strings.

    Letters name the bytes of the big-endian value, A most significant, in the order they
    travel on the wire. ABCD is the Modbus default (big-endian words, high word first).
    """

    ABCD = "ABCD"  # high word first, high byte first
    CDAB = "CDAB"  # low word first (word swap), high byte first
    BADC = "BADC"  # high word first, bytes swapped inside each word
    DCBA = "DCBA"  # fully little-endian

    @property
    def words_reversed(self) -> bool:
        return self in (ByteOrder.CDAB, ByteOrder.DCBA)

    @property
    def bytes_swapped(self) -> bool:
        return self in (ByteOrder.BADC, ByteOrder.DCBA)


@dataclass(frozen=True, slots=True)
class Tag:
    """One value in a device: where it lives (table, address, bit) and how its words
    become a value.

    `key` is the caller's handle (the gateway uses "<device>.<tag>"); the driver never
    interprets it. `address` counts words (or bits, in a bit table) from 0 as the protocol
    sends it; `bit` is 0..15 of a word, 0 least significant. `length` is the string length
    in characters (two per word).
    """

    key: str
    table: Table
    address: int
    type: DataType
    order: ByteOrder = ByteOrder.ABCD
    bit: int | None = None
    length: int = 0
    scale: float = 1.0
    offset: float = 0.0

    @property
    def width(self) -> int:
        """How many words (or bits, in a bit table) the tag occupies."""
        if self.table.is_bit:
            return 1
        fixed = self.type.fixed_words
        if fixed is not None:
            return fixed
        return (self.length + 1) // 2

    @property
    def end(self) -> int:
        """One past the last word (or bit) of the tag."""
        return self.address + self.width

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a contiguous run of one table of one unit (the device's address
    behind a shared link), and the tags it covers."""

    unit: int
    table: Table
    start: int
    count: int
    tags: tuple[Tag, ...] = field(default=())

    @property
    def end(self) -> int:
        return self.start + self.count


def tag_problems(
    tag: Tag, *, writable: bool = False, max_words: int | None = None
) -> list[TagProblem]:
    """What no table allows, whatever the protocol: a type in the wrong kind of table, a bit
    out of a word, a string without length, a tag wider than one request (`max_words`, the
    device's limit, if known), a write to a read-only table. Address bounds are the
    driver's (its `address_problems`)."""
    problems = _in_bit_table(tag) if tag.table.is_bit else _in_word_table(tag, max_words)
    problems += _length(tag)
    if writable and not tag.table.is_writable:
        message = f"writable is only allowed in a holding or coil table ({tag.table} is read-only)"
        problems.append(("writable", message))
    return problems


_BIT_ONLY_IN_WORD = "bit is only allowed on a bool in a holding or input register"


def _in_bit_table(tag: Tag) -> list[TagProblem]:
    problems: list[TagProblem] = []
    if tag.type is not DataType.BOOL:
        problems.append(
            ("type", f"{a_type(tag.type)} cannot live in a {tag.table} table; use holding or input")
        )
    if tag.bit is not None:
        problems.append(("bit", _BIT_ONLY_IN_WORD))
    return problems


def _in_word_table(tag: Tag, max_words: int | None) -> list[TagProblem]:
    problems: list[TagProblem] = []
    if tag.bit is not None:
        if tag.type is not DataType.BOOL:
            problems.append(("bit", _BIT_ONLY_IN_WORD))
        elif not 0 <= tag.bit < WORD_BITS:
            problems.append(("bit", f"must be between 0 and {WORD_BITS - 1} (got {tag.bit})"))
    if max_words is not None and tag.width > max_words:
        # A tag is never cut between two requests, so it must fit in one.
        if tag.type is DataType.STRING:
            key, what = "length", f"a string of {tag.length} characters"
        else:
            key, what = "type", a_type(tag.type)
        problems.append(
            (
                key,
                f"{what} needs {tag.width} registers, more than this device's "
                f"max_registers = {max_words}",
            )
        )
    return problems


def _length(tag: Tag) -> list[TagProblem]:
    if tag.type is DataType.STRING and tag.length <= 0:
        return [("length", "a string needs length, its size in characters (two per register)")]
    if tag.type is not DataType.STRING and tag.length != 0:
        return [("length", "length is only allowed on a string")]
    return []


def a_type(dtype: DataType) -> str:
    """The type with its article, as messages name it: "an int16", "a float32"."""
    article = "an" if dtype.value.startswith("i") else "a"
    return f"{article} {dtype}"


class DriverError(Exception):
    """Base of every error a driver raises."""


class Unavailable(DriverError):
    """Link down, refused or timed out: retry with backoff."""


class Rejected(DriverError):
    """The device answered with a protocol exception."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class IllegalAddress(Rejected):
    """The device says (part of) the requested address range does not exist."""


class OutOfRange(ValueError):
    """The value cannot be represented by the tag's data type (after inverting the scaling)."""


class Connection(Protocol):
    """An open link to one device (a unit behind a link)."""

    async def read(self, block: ReadBlock) -> Sequence[int] | Sequence[bool]:
        """Words (0..65535) for word tables, booleans for bit tables."""
        ...

    async def write(self, tag: Tag, raw: Sequence[int] | bool) -> None:
        """Write encoded words (or one bit) for `tag`."""
        ...


class Driver(Protocol):
    """What a field protocol package exports as its DRIVER: everything the gateway does
    with a protocol goes through these, and drivers/registry.py maps URL schemes to it.

    Settings and limits are the driver's own objects; the gateway only hands them back.
    Everything but `open` and `write` is pure (no I/O).
    """

    schemes: tuple[str, ...]
    """The device URL schemes this driver serves, e.g. ("modbus-tcp", "modbus-rtu")."""
    url_forms: tuple[str, ...]
    """One example form per scheme for messages: "modbus-tcp://host[:port]"."""
    address_space: int
    """Addresses in one table (Modbus: 65536); a tag ends at or before it."""

    def link(self, url: str) -> Any:
        """The link a device URL names; ValueError says what is wrong and what is expected."""
        ...

    def settings(self, link: Any, unit: int, timeout_s: float) -> Any:
        """One device's settings on `link`; ValueError for a unit the link cannot reach."""
        ...

    def address_problems(
        self, tag: Tag, *, writable: bool = False, max_registers: int | None = None
    ) -> list[TagProblem]:
        """Everything wrong with where `tag` lives (`tag_problems` and the address bounds)."""
        ...

    def address_hints(self, tag: Tag) -> list[TagProblem]:
        """Valid addresses that probably mean something else."""
        ...

    def limits(self, max_registers: int, max_bits: int, max_gap: int) -> Any:
        """The device's request limits, for `plan`."""
        ...

    def plan(self, tags: Sequence[Tag], unit: int, limits: Any) -> list[ReadBlock]:
        """Coalesce tags into as few reads as the limits allow."""
        ...

    def split(self, block: ReadBlock) -> list[ReadBlock]:
        """Smaller reads covering a refused block's tags; [] when it cannot be cut."""
        ...

    def decode(
        self, block: ReadBlock, data: Sequence[int] | Sequence[bool]
    ) -> list[tuple[Tag, Value]]:
        """Every tag's value from one read's data."""
        ...

    def decoder(self, block: ReadBlock) -> BlockDecoder:
        """`decode` for one block, with what depends only on the block done once: what a
        poll loop calls every cycle."""
        ...

    def open(self, settings: Any) -> AbstractAsyncContextManager[Connection]:
        """An async context manager yielding an open connection."""
        ...

    async def write(self, conn: Connection, tag: Tag, value: object) -> None:
        """Encode and write one value; OutOfRange, or TypeError for a value of the wrong
        kind, and DriverError for the link."""
        ...
