"""The field model shared by every driver: data types, byte orders, tables, tags, errors.

A driver answers "read this block now" and "write these registers"; it raises only the
errors defined here, translated at its boundary from whatever its protocol library raises.
The runtime (in `gateway`) owns scheduling, retries, quality and timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Table(StrEnum):
    """A Modbus data table."""

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
        """Registers a value occupies; None for strings (their `length` decides)."""
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
    """One value in a device: where it lives and how its registers become a value.

    `key` is the caller's handle (the gateway uses "<device>.<tag>"); the driver never
    interprets it. `length` is the string length in characters (two per register).
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
        """How many registers (or bits, for coil/discrete tables) the tag occupies."""
        if self.table.is_bit:
            return 1
        fixed = self.type.fixed_words
        if fixed is not None:
            return fixed
        return (self.length + 1) // 2

    @property
    def end(self) -> int:
        """One past the last register (or bit) of the tag."""
        return self.address + self.width

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a contiguous run of one table of one unit, and the tags it covers."""

    unit: int
    table: Table
    start: int
    count: int
    tags: tuple[Tag, ...] = field(default=())

    @property
    def end(self) -> int:
        return self.start + self.count


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


class Connection(Protocol):
    """An open link to one device (a unit behind a port)."""

    async def read(self, block: ReadBlock) -> Sequence[int] | Sequence[bool]:
        """Registers (0..65535) for register tables, booleans for bit tables."""
        ...

    async def write(self, tag: Tag, raw: Sequence[int] | bool) -> None:
        """Write encoded registers (or one bit) for `tag`."""
        ...


class Driver(Protocol):
    """What a field protocol package exports as its FACTORY."""

    def plan(self, tags: Sequence[Tag], unit: int, limits: Any) -> list[ReadBlock]:
        """Coalesce tags into as few reads as the limits allow (pure, no I/O)."""
        ...

    def open(self, settings: Any) -> AbstractAsyncContextManager[Connection]:
        """An async context manager yielding an open connection."""
        ...
