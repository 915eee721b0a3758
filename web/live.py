"""The overview and live tag values: JSON read-outs, and a server-sent event stream that
pushes them every second, so no page polls.

A stream ends when its client goes away or the app shuts down (aiohttp would otherwise
wait its whole shutdown timeout for streams that never end on their own).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from web.event_stream import event, install_streams, open_stream
from web.facade import NotFound, WebFacade
from web.requests import refused

logger = logging.getLogger(__name__)

PUSH_INTERVAL_S = 1.0


class Live:
    """The routes of the overview's and the devices page's live data."""

    def __init__(self, facade: WebFacade, interval_s: float = PUSH_INTERVAL_S) -> None:
        self._facade = facade
        self._interval_s = interval_s

    def install(self, app: web.Application) -> None:
        install_streams(app)
        app.router.add_routes([
            web.get("/api/overview", self.overview),
            web.get("/api/devices/{device}/values", self.values),
            web.get("/api/events", self.events),
        ])

    async def overview(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.overview())

    async def values(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self._facade.tag_values(request.match_info["device"]))
        except NotFound as exc:
            return refused(exc)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """`overview` events, and `values` events of ?device= when given, every second; with
        ?asset= `asset` events of that asset instead of `overview` (its page needs no more)."""
        device = request.query.get("device")
        asset = request.query.get("asset")
        response, ended = await open_stream(request)
        try:
            while not ended.is_set():
                await response.write(self._events(device, asset))
                try:
                    async with asyncio.timeout(self._interval_s):
                        await ended.wait()
                except TimeoutError:
                    pass
        except ConnectionResetError:
            logger.debug("event stream of %s ended by the client", request.remote)
        return response

    def _events(self, device: str | None, asset: str | None) -> bytes:
        parts = [self._asset_event(asset) if asset else event("overview", self._facade.overview())]
        if device:
            try:
                parts.append(event("values", self._facade.tag_values(device)))
            except NotFound as exc:
                parts.append(event("gone", {"error": str(exc)}))
        return "".join(parts).encode()

    def _asset_event(self, asset: str) -> str:
        try:
            return event("asset", self._facade.asset(asset))
        except NotFound as exc:
            return event("gone", {"error": str(exc)})
