"""The gateway's background tasks, kept running: one that fails is logged once with its
traceback, counted, shown as failing, and started again after a backoff (issue #17).

Why not end the process. docs/style.md §5 says that an exception other than a link or
device error is a bug that ends the process non-zero, for the service manager to restart
it. Issue #17 overrides that here, on purpose: this gateway carries a plant's data, and
the failures seen were of one part, set off by input that is there again after a restart
(a retained MQTT message, a saved setting, a full disk). Ending the process then stops
polling and OPC UA, which needed none of the failed part, at every start, until someone
edits files by hand. So each part contains its own failures (device loops in
gateway.runtime.poller, sinks with gateway.core.failures, tasks here) and the parts that
work keep the data flowing; /metrics counts the failures and the web page names the
failing parts, which is how a bug still gets noticed. Cancellation is never contained: it
is how the gateway stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.core.failures import Failures
from gateway.runtime.backoff import Backoff

logger = logging.getLogger(__name__)


class Supervisor:
    """Runs background tasks and restarts the ones that fail, with backoff.

    A task that has run `healthy_after_s` since its last restart counts as working again:
    its backoff starts over, and its next failure is logged with its traceback again.
    """

    def __init__(
        self, backoff_initial_s: float = 1.0, backoff_max_s: float = 60.0,
        healthy_after_s: float = 60.0,
    ) -> None:
        self._initial_s = backoff_initial_s
        self._max_s = backoff_max_s
        self._healthy_after_s = healthy_after_s
        self.failures = Failures("task", logger)

    async def keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Await `run()` until it returns or this is cancelled; restart it when it fails."""
        backoff = Backoff(self._initial_s, self._max_s)
        loop = asyncio.get_running_loop()
        while True:
            healthy = None
            if self.failures.is_failing(name):
                healthy = loop.call_later(self._healthy_after_s, self._healthy, name, backoff)
            try:
                await run()
                return
            except Exception as exc:  # noqa: BLE001 - issue #17, see the module docstring
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # It failed on its way out (a last flush): nothing to restart.
                    self.failures.failed(name, exc, "while stopping")
                    raise asyncio.CancelledError from exc
                delay_s = backoff.next_delay()
                self.failures.failed(name, exc, f"restarting it in {delay_s:.1f} s")
            finally:
                if healthy is not None:
                    healthy.cancel()
            await asyncio.sleep(delay_s)

    def _healthy(self, name: str, backoff: Backoff) -> None:
        self.failures.recovered(name)
        backoff.reset()
