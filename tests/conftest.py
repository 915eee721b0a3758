"""Shared fixtures; protocol fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures.modbus",
    "tests.fixtures.opcua",
    "tests.fixtures.mqtt",
    "tests.fixtures.browser",
    "tests.fixtures.disk",
    "tests.fixtures.smtp",
    "tests.fixtures.telegram",
]


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running after all its fixtures are torn down."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    leaked = {t for t in asyncio.all_tasks() - before if t is not current}
    if leaked:
        # Give tasks that are already finishing their cancellation one chance to end.
        _, pending = await asyncio.wait(leaked, timeout=2.0)
        if pending:
            names = sorted(t.get_name() + ":" + repr(t.get_coro()) for t in pending)
            for task in pending:
                task.cancel()
            pytest.fail(f"test leaked {len(pending)} running tasks: {names}")
