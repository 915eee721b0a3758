"""One device's driver in the gateway's own terms.

`FieldDriver` binds a `drivers.base.Driver` (the one `drivers.registry` chose from the
device URL's scheme) to the configuration: tags from `TagConfig`, plans from the device's
limits, settings from its URL, unit and timeout, and a write's value errors as the
gateway's `WriteFailure`. It is protocol-neutral: a second protocol needs nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from drivers.base import BlockDecoder, Connection, Driver, OutOfRange, ReadBlock, Tag
from gateway.config.model import DeviceConfig, TagConfig
from gateway.core.sample import Value
from gateway.core.writes import WriteFailure, WriteFailureReason


class FieldDriver:
    """A `drivers.base.Driver` taking the gateway's configuration."""

    def __init__(self, driver: Driver) -> None:
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

    def decoder(self, block: ReadBlock) -> BlockDecoder:
        return self._driver.decoder(block)

    async def write(self, conn: Connection, tag: Tag, value: Value) -> None:
        """Encode and write; raises WriteFailure for values, DriverError for the link."""
        try:
            await self._driver.write(conn, tag, value)
        except OutOfRange as exc:
            raise WriteFailure(WriteFailureReason.OUT_OF_RANGE, f"{tag.key}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise WriteFailure(WriteFailureReason.TYPE_MISMATCH, f"{tag.key}: {exc}") from exc

    def open(self, device: DeviceConfig) -> AbstractAsyncContextManager[Connection]:
        link = self._driver.link(device.url)
        return self._driver.open(self._driver.settings(link, device.unit_id, device.timeout))
