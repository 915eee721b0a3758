"""The Modbus driver as one object: settings, planning, decoding, writing, opening."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from drivers.base import Connection, ReadBlock, Tag
from drivers.modbus import codec, planner
from drivers.modbus.client import DeviceSettings, ModbusConnection, open_device
from drivers.modbus.link import LinkSettings


class ModbusDriver:
    """What `gateway` uses of Modbus; pure except for `open` and `write`."""

    def settings(self, url: str, unit: int, timeout_s: float) -> DeviceSettings:
        """Device settings from a link URL; raises ValueError naming what is wrong."""
        return DeviceSettings(LinkSettings.parse(url), unit, timeout_s)

    def limits(self, max_registers: int, max_bits: int, max_gap: int) -> planner.PlanLimits:
        return planner.PlanLimits(
            max_registers=max_registers, max_bits=max_bits, max_gap_registers=max_gap
        )

    def plan(
        self, tags: Sequence[Tag], unit: int, limits: planner.PlanLimits
    ) -> list[ReadBlock]:
        return planner.plan(tags, unit, limits)

    def split(self, block: ReadBlock) -> list[ReadBlock]:
        return planner.split(block)

    def decode(
        self, block: ReadBlock, data: Sequence[int] | Sequence[bool]
    ) -> list[tuple[Tag, codec.Value]]:
        return codec.decode_block(block, data)

    def open(self, settings: DeviceSettings) -> AbstractAsyncContextManager[ModbusConnection]:
        return open_device(settings)

    async def write(self, conn: Connection, tag: Tag, value: codec.Value) -> None:
        """Encode and write one value; raises OutOfRange, TypeError, or a DriverError.

        A bool that is one bit of a register needs the register's other bits: it is read,
        changed and written back. A device that changes the other bits in between loses
        that change; devices that care offer coils or a dedicated register instead.
        """
        if tag.bit is not None and not tag.table.is_bit:
            word_tag = Tag(tag.key, tag.table, tag.address, tag.type, tag.order)
            block = ReadBlock(0, tag.table, tag.address, 1, (word_tag,))
            (current,) = await conn.read(block)
            await conn.write(tag, [codec.encode_bit_in_word(tag, int(current), value)])
            return
        await conn.write(tag, codec.encode(tag, value))
