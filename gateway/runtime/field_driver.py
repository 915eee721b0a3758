"""The seam between the runtime and a field protocol, in the gateway's own terms.

A `FieldDriver` turns configuration into the driver's tags, plans and settings, and
decodes and writes values. `ModbusFieldDriver` adapts `drivers.modbus` to it; a second
protocol gets an adapter of its own and passes the same runtime tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from drivers.base import Connection, ReadBlock, Tag
from drivers.modbus import FACTORY, ModbusDriver, OutOfRange
from gateway.config.model import DeviceConfig, TagConfig
from gateway.core.sample import Value
from gateway.core.writes import WriteFailure, WriteFailureReason


class FieldDriver(Protocol):
    def tag(self, device: str, config: TagConfig) -> Tag: ...

    def plan(self, device: DeviceConfig, tags: Sequence[Tag]) -> list[ReadBlock]: ...

    def split(self, block: ReadBlock) -> list[ReadBlock]: ...

    def decode(self, block: ReadBlock, data: Sequence[int] | Sequence[bool]) -> Iterable[
        tuple[Tag, Value]
    ]: ...

    async def write(self, conn: Connection, tag: Tag, value: Value) -> None:
        """Encode and write; raises WriteFailure for values, DriverError for the link."""
        ...

    def open(self, device: DeviceConfig) -> AbstractAsyncContextManager[Connection]: ...


class ModbusFieldDriver:
    """`drivers.modbus` in the runtime's terms."""

    def __init__(self, driver: ModbusDriver = FACTORY) -> None:
        self._driver = driver

    def tag(self, device: str, config: TagConfig) -> Tag:
        return config.as_tag(f"{device}.{config.name}")

    def plan(self, device: DeviceConfig, tags: Sequence[Tag]) -> list[ReadBlock]:
        limits = self._driver.limits(
            max_registers=device.max_registers, max_bits=device.max_bits, max_gap=device.max_gap
        )
        return self._driver.plan(tags, device.unit_id, limits)

    def split(self, block: ReadBlock) -> list[ReadBlock]:
        return self._driver.split(block)

    def decode(
        self, block: ReadBlock, data: Sequence[int] | Sequence[bool]
    ) -> Iterable[tuple[Tag, Value]]:
        return self._driver.decode(block, data)

    async def write(self, conn: Connection, tag: Tag, value: Value) -> None:
        try:
            await self._driver.write(conn, tag, value)
        except OutOfRange as exc:
            raise WriteFailure(WriteFailureReason.OUT_OF_RANGE, f"{tag.key}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise WriteFailure(WriteFailureReason.TYPE_MISMATCH, f"{tag.key}: {exc}") from exc

    def open(self, device: DeviceConfig) -> AbstractAsyncContextManager[Connection]:
        settings = self._driver.settings(device.url, device.unit_id, device.timeout)
        return self._driver.open(settings)
