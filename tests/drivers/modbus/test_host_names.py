"""A host name that cannot be resolved is a link that is down (`Unavailable`), not a bug that
escapes the driver (issue #17)."""

from __future__ import annotations

import re

import pytest

from drivers.base import ReadBlock, Table, Unavailable
from drivers.modbus.client import DeviceSettings, open_device
from drivers.modbus.link import LinkSettings, Scheme


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("plc1..plant.local", "label empty or too long"),  # UnicodeError from the IDNA codec
        ("plc1\x00x", "embedded null character"),  # ValueError from getaddrinfo
    ],
)
async def test_a_host_name_that_cannot_be_resolved_is_unavailable(host: str, why: str) -> None:
    # Built directly: LinkSettings.parse may refuse these, but the driver must not rely on it.
    settings = DeviceSettings(LinkSettings(scheme=Scheme.TCP, host=host, port=502), 1, 0.5)
    message = re.escape(f"host name {host!r} cannot be resolved")
    async with open_device(settings) as conn:
        for _ in range(2):  # and again: the link is retried, not left broken
            with pytest.raises(Unavailable, match=message):
                await conn.read(ReadBlock(1, Table.HOLDING, 0, 1))
    with pytest.raises(Unavailable, match=why):
        async with open_device(settings) as conn:
            await conn.read(ReadBlock(1, Table.HOLDING, 0, 1))
