"""Telegram links on the page (issue #15): a user gets a one-time code to send to the bot as
`/link CODE`, which links their Telegram account to them; an engineer or admin may get one
for another user and sees and ends everyone's links. A code is asked for with a login
with a password (a session), not an API token: a leaked token must not be able to give
a stranger's Telegram account a lasting link. Each change is recorded in the audit log."""

from __future__ import annotations

from aiohttp import web

from web.auth import by_token, current_user
from web.facade import Refused, WebFacade
from web.refusal import refuse
from web.requests import BadRequest, json_object, refused, text_field
from web.users import Role


class TelegramRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/telegram", self.links),
            web.post("/api/telegram/codes", self.code),
            web.delete("/api/telegram/links/{telegram_id}", self.unlink),
        ]

    async def links(self, request: web.Request) -> web.Response:
        """Your links; an engineer's or admin's answer has everyone's."""
        return web.json_response(self._facade.telegram_links(_whose(request)))

    async def code(self, request: web.Request) -> web.StreamResponse:
        """{"user": whose, default you}: 201 with the code, its user and when it expires."""
        if by_token(request):
            return refuse(request, 403, "Telegram link codes are asked for on the page, "
                                        "logged in with a password")
        user = current_user(request)
        whose = text_field(await json_object(request), "user", default=user.name)
        if whose != user.name and not user.role.at_least(Role.ENGINEER):
            return refuse(request, 403, "only an engineer or admin gets a code for another user")
        try:
            answer = await self._facade.telegram_code(whose, user.name)
        except Refused as exc:
            return refused(exc)
        return web.json_response(answer, status=201)

    async def unlink(self, request: web.Request) -> web.Response:
        try:
            telegram_id = int(request.match_info["telegram_id"])
        except ValueError:
            raise BadRequest("telegram_id: expected a Telegram user id (a number)") from None
        try:
            link = await self._facade.telegram_unlink(telegram_id, _whose(request),
                                                      current_user(request).name)
        except Refused as exc:
            return refused(exc)
        return web.json_response(link)


def _whose(request: web.Request) -> str | None:
    """The user whose links the request may see and end; None for engineers and admins."""
    user = current_user(request)
    return None if user.role.at_least(Role.ENGINEER) else user.name
