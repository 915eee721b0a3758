"""Serve the web page until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from web.settings import WebSettings

logger = logging.getLogger(__name__)

_SHUTDOWN_TIMEOUT_S = 5.0
# After a body is refused unread (413, web/requests.py), aiohttp keeps reading and dropping
# the rest for this long before closing, so that the client, still sending, reads the
# answer instead of a reset. Its default of 10 s would spend that long per refused upload,
# and keeps waiting even after the client has gone.
_LINGERING_S = 1.0


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
    runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
                           lingering_time=_LINGERING_S)
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
