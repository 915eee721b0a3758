"""The files that could not be written (a full disk, issue #17), tried again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from gateway.alarms.saved import AlarmStateFile
from gateway.core.files import to_the_end
from gateway.store.audit import AuditLog

# How often the stores waiting for disk space are tried again.
STORAGE_RETRY_S = 1.0


async def retry_storage(
    retries: Sequence[Callable[[], Awaitable[None]]], interval_s: float = STORAGE_RETRY_S
) -> None:
    """Every `interval_s`, let each store write again what waits for disk space; each
    retry does nothing when nothing waits, and reports its store's health itself. A retry
    under way when the gateway stops ends first (its writes, in threads or SQLite's, would
    go on with files open under data_dir after the gateway stopped)."""
    while True:
        await asyncio.sleep(interval_s)
        for retry in retries:
            await to_the_end(retry())


def alarm_states(state_file: AlarmStateFile) -> Callable[[], Awaitable[None]]:
    """The retry of the alarm states file (blocking writes: in a thread)."""
    async def retry() -> None:
        if state_file.unsaved:
            await asyncio.to_thread(state_file.retry)
    return retry


def audit_rows(audit_log: AuditLog) -> Callable[[], Awaitable[None]]:
    """The retry of the audit rows that wait for disk space."""
    async def retry() -> None:
        if audit_log.waiting():
            await audit_log.retry()
    return retry
