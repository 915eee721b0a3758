"""What the web page needs from the gateway; gateway/ implements it, web/ never imports it.

Both methods are called on the event loop for each request: they must answer from state
the gateway already holds, without blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class WebFacade(Protocol):
    """The gateway as the web page sees it."""

    def health(self) -> Mapping[str, object]:
        """The gateway's health; its "status" is "ok" when healthy. Only "status" is shown
        (unauthenticated, at /healthz), so other keys may hold details for the page."""
        ...

    def metrics(self) -> str:
        """Every metric in the Prometheus text exposition format, version 0.0.4."""
        ...
