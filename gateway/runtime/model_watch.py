"""Hot model reload: notice changed model files (or a reload request) and swap them in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from analytics.model_file import ModelError
from gateway.runtime.model_slot import ModelFiles, ModelSlot

logger = logging.getLogger(__name__)

SlotSink = Callable[[ModelSlot], None]


class ModelWatcher:
    """Checks the model files every `interval_s`, or at once when `request()` is called.

    Polling file stamps costs one stat per file per interval and works on every file
    system a plant may mount; a new file must be written beside and renamed over the old
    one (as `uvelka train` does), so a half-written file is never seen.
    """

    def __init__(
        self, files: ModelFiles, slots: Sequence[ModelSlot], sink: SlotSink, interval_s: float
    ) -> None:
        self._files = files
        self._slots = list(slots)
        self._sink = sink
        self._interval_s = interval_s
        self._requested = asyncio.Event()
        # Callers of `checked`, resolved by the first check that starts after they asked.
        self._waiters: list[asyncio.Future[None]] = []
        self.checks = 0

    def request(self) -> None:
        """Check now (SIGHUP, the web page)."""
        self._requested.set()

    async def checked(self) -> None:
        """Request a check and return once one that started after this call has ended.

        Only while `run` runs; the caller bounds the wait."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.request()
        await waiter

    async def run(self) -> None:
        for slot in self._slots:
            self._sink(slot)
        while True:
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._requested.wait()
            except TimeoutError:
                pass
            self._requested.clear()
            # Taken before the check: one who asks during it needs the next check, which
            # sees the file written before asking; `request` has already set that going.
            waiters, self._waiters = self._waiters, []
            try:
                await self.check()
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def check(self) -> None:
        """Load each changed file once, offer it to the slots using it, publish outcomes."""
        self.checks += 1
        for path in self._files.changed():
            users = [slot for slot in self._slots if slot.path == path]
            try:
                model = await self._files.reload(path)
            except ModelError as exc:
                for slot in users:
                    slot.refuse(str(exc))
                    self._sink(slot)
                continue
            for slot in users:
                slot.offer(model)
                self._sink(slot)
