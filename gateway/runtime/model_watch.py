"""Hot model reload: notice changed model files (or a reload request) and swap them in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from gateway.runtime.model_slot import ModelSlot

logger = logging.getLogger(__name__)

SlotSink = Callable[[ModelSlot], None]


class ModelWatcher:
    """Checks every slot's file every `interval_s`, or at once when `request()` is called.

    Polling file stamps costs one stat per model per interval and works on every file
    system a plant may mount; a new file must be written beside and renamed over the old
    one (as `uvelka train` does), so a half-written file is never seen.
    """

    def __init__(self, slots: Sequence[ModelSlot], sink: SlotSink, interval_s: float) -> None:
        self._slots = list(slots)
        self._sink = sink
        self._interval_s = interval_s
        self._requested = asyncio.Event()
        self.checks = 0

    def request(self) -> None:
        """Check now (SIGHUP, the web page)."""
        self._requested.set()

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
            await self.check()

    async def check(self) -> None:
        """Reload every slot whose file changed; publish each outcome."""
        self.checks += 1
        for slot in self._slots:
            if slot.changed():
                await slot.reload()
                self._sink(slot)
