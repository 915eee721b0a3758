"""The Modbus driver as one object: a `drivers.base.Driver` for the three Modbus links."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from drivers.base import BlockDecoder, Connection, ReadBlock, Tag, TagProblem, Value
from drivers.modbus import address, codec, planner
from drivers.modbus.client import DeviceSettings, ModbusConnection, open_device
from drivers.modbus.link import URL_FORMS, LinkSettings, Scheme


class ModbusDriver:
    """What `gateway` uses of Modbus; pure except for `open` and `write`."""

    schemes: tuple[str, ...] = tuple(Scheme)
    url_forms: tuple[str, ...] = URL_FORMS
    address_space: int = address.ADDRESS_SPACE

    def link(self, url: str) -> LinkSettings:
        """The link a URL names; raises ValueError naming what is wrong."""
        return LinkSettings.parse(url)

    def settings(self, link: LinkSettings, unit: int, timeout_s: float) -> DeviceSettings:
        """One device on `link`; raises ValueError for a unit the link cannot address."""
        return DeviceSettings(link, unit, timeout_s)

    def address_problems(
        self, tag: Tag, *, writable: bool = False, max_registers: int | None = None
    ) -> list[TagProblem]:
        return address.address_problems(tag, writable=writable, max_registers=max_registers)

    def address_hints(self, tag: Tag) -> list[TagProblem]:
        return address.address_hints(tag)

    def limits(self, max_registers: int, max_bits: int, max_gap: int) -> planner.PlanLimits:
        return planner.PlanLimits(
            max_registers=max_registers, max_bits=max_bits, max_gap_registers=max_gap
        )

    def plan(self, tags: Sequence[Tag], unit: int, limits: planner.PlanLimits) -> list[ReadBlock]:
        return planner.plan(tags, unit, limits)

    def split(self, block: ReadBlock) -> list[ReadBlock]:
        return planner.split(block)

    def decode(
        self, block: ReadBlock, data: Sequence[int] | Sequence[bool]
    ) -> list[tuple[Tag, Value]]:
        return codec.decode_block(block, data)

    def decoder(self, block: ReadBlock) -> BlockDecoder:
        return codec.block_decoder(block)

    def open(self, settings: DeviceSettings) -> AbstractAsyncContextManager[ModbusConnection]:
        return open_device(settings)

    async def write(self, conn: Connection, tag: Tag, value: object) -> None:
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
