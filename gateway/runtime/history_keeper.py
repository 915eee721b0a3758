"""The tag history kept running across storage failures (issue #17): opened again when it
could not be, run again after a write failed, reported as degraded meanwhile while the
gateway goes on without recording."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

from gateway.config.model import HistorySection
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.storage import StorageHealth
from gateway.store.history import History
from gateway.store.history_points import score_points

logger = logging.getLogger(__name__)

HISTORY = "history"  # its name in StorageHealth, /metrics and the page
# How long to wait before opening or running the history again after it failed.
RETRY_S = 1.0


class HistoryKeeper:
    """The history at `path` while the gateway serves; `current` is None while the file
    cannot be opened (a full disk) and once it is closed."""

    def __init__(
        self,
        path: Path,
        section: HistorySection,
        epoch_s: Callable[[], float],
        health: StorageHealth,
    ) -> None:
        self.current: History | None = None
        self._path = path
        self._section = section
        self._epoch_s = epoch_s
        self._health = health
        self._stack = AsyncExitStack()
        self._written = 0  # points the history had written when it last failed

    async def __aenter__(self) -> HistoryKeeper:
        await self._open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.current = None  # first: nothing records into a closed file
        await self._stack.aclose()

    def record_samples(self, samples: Sequence[Sample]) -> None:
        if (history := self.current) is not None:
            # Queued as published, converted in the history's thread (issue #17).
            history.record_samples(tuple(samples))

    def record_scores(self, scores: Sequence[Score]) -> None:
        if (history := self.current) is not None:
            history.record(score_points(scores))

    async def run(self) -> None:
        """Run the history; open it first if it could not be, and when a write fails (a
        full disk), report it and run it again after a pause; until cancelled."""
        while True:
            if self.current is None:
                await self._open()
            if (history := self.current) is not None:
                try:
                    await history.run()
                except Exception as error:
                    self._health.absorb(HISTORY, "write the history", error)
                    self._written = history.stats.written
                else:
                    return
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Its last flush on the way out failed, or a close failed while an open was
                # cancelled (the error replaced the CancelledError): stop, never open again.
                return
            await asyncio.sleep(RETRY_S)

    async def retry(self) -> None:
        """Report the history healthy again once it has written since it last failed."""
        history = self.current
        if history is not None and history.stats.written > self._written:
            self._health.ok(HISTORY)

    async def _open(self) -> None:
        section = self._section
        try:
            self.current = await self._stack.enter_async_context(History.open(
                self._path,
                retention_s=section.retention,
                flush_interval_s=section.flush_interval,
                max_pending=section.max_pending,
                clock=self._epoch_s,
                health=self._health,
            ))
        except Exception as error:
            self._health.absorb(HISTORY, "open the history file", error)
