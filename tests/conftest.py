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

# The files that keep a test worker busy a minute or more (the CI records' --durations), the
# longest first. pyproject.toml runs two workers, each taking whole files as it frees up, in
# collection order (--no-loadscope-reorder): begun last, one of these would leave the other
# worker idle for its length at the end of the run; begun first, the many short files fill
# the gaps. Only the order changes: a file missing here runs in its collection place.
LONGEST_FIRST = (
    "tests/gateway/test_learning_loop_end_to_end.py",
    "tests/analytics/test_evaluation_rul.py",
    "tests/gateway/opcua/test_security.py",
    "tests/gateway/test_web_browser.py",
    "tests/gateway/notify/test_email_end_to_end.py",
    "tests/gateway/page/test_model_manager.py",
    "tests/gateway/test_training_end_to_end.py",
    "tests/gateway/test_web_config_edits.py",
    "tests/gateway/test_web_page_load.py",
    "tests/analytics/test_rul_interval.py",
    "tests/gateway/test_model_refused_at_start.py",
    "tests/gateway/runtime/test_misbehaving_peers.py",
    "tests/gateway/test_demo_scenario.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in its order; each file's tests keep theirs."""
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


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
