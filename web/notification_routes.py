"""The notification bell (issue #15): the list of notifications with links to the alarm or
asset, each user's unread count, mark read, and a server-sent event stream that pushes
new ones to every open page (the bell counts them live; web/static/bell.js).

Every logged-in user sees the list (notifications are about the plant, not about them);
"read" is kept per user.
"""

from __future__ import annotations

import logging

from aiohttp import web

from web.auth import current_user
from web.event_stream import event, install_streams, open_stream
from web.facade import WebFacade
from web.language import language_of
from web.requests import BadRequest, json_object

logger = logging.getLogger(__name__)

LIMIT = 50  # notifications in the list
WAIT_S = 1.0  # how long a stream waits for a new one before it looks at the shutdown again


class NotificationRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def install(self, app: web.Application) -> None:
        install_streams(app)
        app.router.add_routes([
            web.get("/api/notifications", self.list),
            web.post("/api/notifications/read", self.read),
            web.get("/api/notifications/stream", self.stream),
        ])

    async def list(self, request: web.Request) -> web.Response:
        """{"items": newest first [{id, time, kind, severity, title, detail, link, read}],
        "unread", "latest"}."""
        return web.json_response(await self._facade.notifications(
            current_user(request).name, language_of(request), 0, LIMIT))

    async def read(self, request: web.Request) -> web.Response:
        """{"ids": [...]} or {"all": true}: marked read for you; {"unread"} after."""
        body = await json_object(request)
        if body.get("all") is True:
            ids = None
        else:
            ids = body.get("ids")
            if (not isinstance(ids, list)
                    or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
                raise BadRequest('ids: expected a list of notification ids, or "all": true')
        return web.json_response(
            await self._facade.notifications_read(current_user(request).name, ids))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """`notifications` events: the unread count at once, then each new notification
        with the count after it, as they come."""
        user, language = current_user(request).name, language_of(request)
        response, ended = await open_stream(request)
        answer = await self._facade.notifications(user, language, 0, 0)
        latest = int(answer["latest"])
        try:
            await response.write(event("notifications", answer).encode())
            while not ended.is_set():
                newest = await self._facade.notification_wait(latest, WAIT_S)
                if newest > latest:
                    answer = await self._facade.notifications(user, language, latest, LIMIT)
                    latest = newest
                    await response.write(event("notifications", answer).encode())
        except ConnectionResetError:
            logger.debug("notification stream of %s ended by the client", request.remote)
        return response
