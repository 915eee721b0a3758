"""The export tests' ClickHouse: `clickhouse`, a started server of its own (see
clickhouse_server.py), killed at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.gateway.export.clickhouse_server import ClickhouseServer


@pytest.fixture
async def clickhouse(tmp_path: Path) -> AsyncIterator[ClickhouseServer]:
    """A started clickhouse-server of its own; killed at teardown."""
    server = ClickhouseServer(tmp_path / "clickhouse")
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
