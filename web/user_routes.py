"""Users (admins only): list, add, change role or password, delete; each change is
recorded in the gateway's audit log. Anyone may change their own password."""

from __future__ import annotations

import json
from collections.abc import Awaitable

from aiohttp import web

from web.auth import current_user, requires
from web.facade import WebFacade
from web.i18n import LANGUAGES, parse_language
from web.requests import BadRequest, json_object, text_field
from web.users import Role, UnknownUser, User, UserConflict, UserError, UserStore


class UserRoutes:
    def __init__(self, store: UserStore, facade: WebFacade) -> None:
        self._store = store
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        admin = requires(Role.ADMIN)
        return [
            web.get("/api/users", admin(self.users)),
            web.post("/api/users", admin(self.add)),
            web.put("/api/users/{name}", admin(self.change)),
            web.delete("/api/users/{name}", admin(self.delete)),
            web.post("/api/me/password", self.own_password),
            web.put("/api/me/language", self.own_language),
            web.put("/api/me/desktop-notifications", self.own_desktop_notifications),
        ]

    async def users(self, request: web.Request) -> web.Response:
        return web.json_response([_described(user) for user in self._store.all()])

    async def add(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        name, role = text_field(body, "name"), _role(body)
        password = text_field(body, "password")
        response = await _answer(self._store.add(name, role, password))
        await self._record(request, "user added", f"{name} ({role})")
        return response

    async def change(self, request: web.Request) -> web.Response:
        """A new `role` and/or `password` for the user in the path."""
        name = request.match_info["name"]
        body = await json_object(request)
        if "role" not in body and "password" not in body:
            raise BadRequest("give a role or a password")
        if "role" in body:
            role = _role(body)
            response = await _answer(self._store.set_role(name, role))
            await self._record(request, "user role changed", f"{name}: {role}")
        if "password" in body:
            response = await _answer(self._store.set_password(name, text_field(body, "password")))
            await self._record(request, "user password set", name)
        return response

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            await self._store.delete(name)
        except UserError as exc:
            raise _refusal(exc) from None
        await self._record(request, "user deleted", name)
        return web.json_response({"done": True})

    async def own_password(self, request: web.Request) -> web.Response:
        name = current_user(request).name
        body = await json_object(request)
        current, new = text_field(body, "current"), text_field(body, "password")
        if await self._store.authenticate(name, current) is None:
            raise BadRequest("current: not your password")
        response = await _answer(self._store.set_password(name, new))
        await self._record(request, "own password changed", name)
        return response

    async def own_language(self, request: web.Request) -> web.Response:
        """The page's language for the logged-in user: `language` one of LANGUAGES, or
        null for the gateway's default."""
        body = await json_object(request)
        chosen = body.get("language")
        language = None if chosen is None else parse_language(str(chosen))
        if chosen is not None and language is None:
            raise BadRequest(f"language: expected one of {', '.join(LANGUAGES)} or null "
                             f"(got {chosen!r})")
        return await _answer(self._store.set_language(current_user(request).name, language))

    async def own_desktop_notifications(self, request: web.Request) -> web.Response:
        """The bell's desktop notifications for the logged-in user: `{"on": true | false}`.
        Not audited, as the language is not: a user's own preference."""
        on = (await json_object(request)).get("on")
        if not isinstance(on, bool):
            raise BadRequest(f"on: expected true or false (got {on!r})")
        return await _answer(self._store.set_desktop_notifications(current_user(request).name,
                                                                   on))

    async def _record(self, request: web.Request, action: str, detail: str) -> None:
        await self._facade.record(current_user(request).name, action, detail)


def _role(body: dict[str, object]) -> Role:
    text = text_field(body, "role")
    try:
        return Role(text)
    except ValueError:
        expected = ", ".join(Role)
        raise BadRequest(f"role: unknown role {text!r}; expected one of {expected}") from None


async def _answer(change: Awaitable[User]) -> web.Response:
    try:
        return web.json_response(_described(await change))
    except UserError as exc:
        raise _refusal(exc) from None


def _refusal(exc: UserError) -> web.HTTPException:
    """404 for an unknown user, 409 for a conflict (the last admin), 400 for the rest."""
    kind: type[web.HTTPException] = (
        web.HTTPNotFound if isinstance(exc, UnknownUser)
        else web.HTTPConflict if isinstance(exc, UserConflict) else web.HTTPBadRequest)
    return kind(text=json.dumps({"error": str(exc)}), content_type="application/json")


def _described(user: User) -> dict[str, str | bool | None]:
    return {"name": user.name, "role": user.role, "changed": user.changed.isoformat(),
            "language": user.language, "desktop_notifications": user.desktop_notifications}
