"""Alarms: every alarm with its state and the recent events; acknowledge with a comment
(operators), shelve and unshelve."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from aiohttp import web

from web.auth import current_user, requires
from web.facade import Refused, WebFacade
from web.requests import BadRequest, json_object, number_field, refused, text_field
from web.users import Role

MAX_SHELVE_HOURS = 24.0 * 7
MAX_COMMENT_CHARS = 500


class AlarmRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        operator = requires(Role.OPERATOR)
        base = "/api/alarms/{name}"
        return [
            web.get("/api/alarms", self.alarms),
            web.post(base + "/acknowledge", operator(self.acknowledge)),
            web.post(base + "/shelve", operator(self.shelve)),
            web.post(base + "/unshelve", operator(self.unshelve)),
        ]

    async def alarms(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.alarms())

    async def acknowledge(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        event_id = text_field(body, "event_id")
        comment = _comment(body)
        return await self._act(self._facade.acknowledge_alarm(
            request.match_info["name"], event_id, current_user(request).name, comment))

    async def shelve(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        hours = number_field(body, "hours", low=0.01, high=MAX_SHELVE_HOURS, default=8.0)
        return await self._act(self._facade.shelve_alarm(
            request.match_info["name"], hours, current_user(request).name, _comment(body)))

    async def unshelve(self, request: web.Request) -> web.Response:
        return await self._act(self._facade.unshelve_alarm(
            request.match_info["name"], current_user(request).name))

    @staticmethod
    async def _act(action: Awaitable[None]) -> web.Response:
        try:
            await action
        except Refused as exc:
            return refused(exc)
        return web.json_response({"done": True})


def _comment(body: Mapping[str, Any]) -> str:
    comment = text_field(body, "comment", default="").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise BadRequest(f"comment: at most {MAX_COMMENT_CHARS} characters")
    return comment
