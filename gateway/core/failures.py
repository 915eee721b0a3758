"""Failures of the gateway's parts (sinks, background tasks, command handlers), contained.

Issue #17: each part contains its own unexpected exceptions, so that one bad input never
takes the gateway down. A part that fails is logged once with the traceback (a part that
keeps failing would otherwise fill the log with the same traceback), every failure is
counted for /metrics, and the part is shown as failing until it works again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class PartHealth:
    """One part's failures since the start; `error` is the last one, "" while it works."""

    failures: int = 0
    error: str = ""


class Failures:
    """The failures of the parts of one kind ("sink", "task"), by part name."""

    def __init__(self, kind: str, log: logging.Logger) -> None:
        self.kind = kind
        self._log = log  # the owner's: records name the module that contained the failure
        self.parts: dict[str, PartHealth] = {}

    def failed(self, part: str, exc: BaseException, consequence: str) -> None:
        """Count a failure of `part`; log it with its traceback if the part worked until now.

        `consequence` says what the failure costs and what happens next."""
        health = self.parts.setdefault(part, PartHealth())
        health.failures += 1
        working = not health.error
        health.error = f"{type(exc).__name__}: {exc}"
        if working:
            self._log.error("%s %s failed: %s; %s", self.kind, part, health.error, consequence,
                            exc_info=exc)
        else:
            self._log.debug("%s %s failed again: %s; %s", self.kind, part, health.error,
                            consequence)

    def recovered(self, part: str) -> None:
        """`part` works again; one INFO line if it was failing."""
        health = self.parts.get(part)
        if health is not None and health.error:
            self._log.info("%s %s works again (%d failures since the start)", self.kind,
                           part, health.failures)
            health.error = ""

    def is_failing(self, part: str) -> bool:
        health = self.parts.get(part)
        return health is not None and bool(health.error)

    def call(self, part: str, send: Callable[[T], object], items: T) -> None:
        """`send(items)`, its exception contained: counted and logged as a failure of `part`."""
        try:
            send(items)
        except Exception as exc:  # noqa: BLE001 - issue #17: one part must not stop the others
            self.failed(part, exc, "the other parts still get the data")
        else:
            if self.parts:  # only once a part has failed: this is on the poll loops' hot path
                self.recovered(part)

    def failing(self) -> dict[str, str]:
        """The parts failing now, with their last error."""
        return {part: health.error for part, health in sorted(self.parts.items())
                if health.error}
