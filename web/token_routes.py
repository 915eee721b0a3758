"""API tokens on the page (issue #14): each user lists, creates and revokes their own; an
admin lists and revokes everyone's. Creating one needs a login with a password (a session
cookie), not a token: a leaked token must not be able to make itself a successor. Each
change is recorded in the gateway's audit log."""

from __future__ import annotations

from aiohttp import web

from web.auth import by_token, current_user
from web.facade import WebFacade
from web.refusal import refuse
from web.requests import json_object, text_field
from web.tokens import Token, TokenConflict, TokenError, TokenStore, UnknownToken
from web.users import Role


class TokenRoutes:
    def __init__(self, tokens: TokenStore, facade: WebFacade) -> None:
        self._tokens = tokens
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/tokens", self.list),
            web.post("/api/tokens", self.create),
            web.delete("/api/tokens/{id}", self.revoke),
        ]

    async def list(self, request: web.Request) -> web.Response:
        """Your tokens; an admin's answer has everyone's."""
        return web.json_response([_described(t) for t in self._tokens.of(_whose(request))])

    async def create(self, request: web.Request) -> web.StreamResponse:
        """{"name": what uses it}: 201 with the token, shown this once."""
        if by_token(request):
            return refuse(request, 403, "API tokens are created on the page, logged in with "
                                        "a password")
        user = current_user(request)
        name = text_field(await json_object(request), "name")
        try:
            token, presented = await self._tokens.create(user, name)
        except TokenError as exc:
            return refuse(request, _status(exc), str(exc))
        await self._facade.record(user.name, "API token created", f"{token.id} ({token.name})")
        return web.json_response({**_described(token), "token": presented}, status=201)

    async def revoke(self, request: web.Request) -> web.Response:
        user = current_user(request).name
        try:
            token = await self._tokens.revoke(request.match_info["id"], _whose(request))
        except TokenError as exc:
            return refuse(request, _status(exc), str(exc))
        await self._facade.record(user, "API token revoked",
                                  f"{token.id} ({token.name}) of {token.user}")
        return web.json_response({"done": True})


def _whose(request: web.Request) -> str | None:
    """The user whose tokens the request may see and revoke; None for an admin: all."""
    user = current_user(request)
    return None if user.role.at_least(Role.ADMIN) else user.name


def _described(token: Token) -> dict[str, str]:
    return {"id": token.id, "name": token.name, "user": token.user,
            "created": token.created.isoformat()}


def _status(exc: TokenError) -> int:
    """404 for an unknown token, 409 for too many or a full disk, 400 for the rest."""
    return 404 if isinstance(exc, UnknownToken) else 409 if isinstance(exc, TokenConflict) else 400
