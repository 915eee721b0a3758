"""Serve the web page until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from web.settings import WebSettings

logger = logging.getLogger(__name__)

_SHUTDOWN_TIMEOUT_S = 5.0


async def serve_web(
    app: web.Application,
    settings: WebSettings,
    *,
    on_listening: Callable[[int], object] | None = None,
) -> None:
    """Serve `app` on the settings' host and port (TLS when configured) until cancelled.

    `on_listening` gets the bound port once the socket listens (port 0 picks a free one).
    """
    ssl_context = await asyncio.to_thread(settings.ssl_context)
    # A request still running at shutdown gets a few seconds, not aiohttp's default 60:
    # the supervisor that sent SIGTERM kills the process soon after.
    runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
        await site.start()
        logger.info("web page listening on %s", site.name)
        if on_listening is not None:
            on_listening(site.port)
        await asyncio.get_running_loop().create_future()  # until cancelled
    finally:
        await runner.cleanup()
