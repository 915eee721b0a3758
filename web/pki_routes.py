"""The OPC UA certificates for admins (issue #14): the server's own certificate and the
one it replaced, the client certificates it refused with Trust and Delete, the trusted
ones with Remove. Each change is recorded in the audit log (by the facade); the server
takes it at the next client that creates a session, without a restart."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from web.auth import current_user, requires
from web.facade import Refused, WebFacade
from web.requests import BadRequest, refused
from web.users import Role

_THUMBPRINT = re.compile(r"[0-9a-f]{40}")


class PkiRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        admin = requires(Role.ADMIN)
        return [
            web.get("/api/pki", admin(self.view)),
            web.post("/api/pki/rejected/{thumbprint}/trust", admin(self.trust)),
            web.delete("/api/pki/rejected/{thumbprint}", admin(self.delete)),
            web.delete("/api/pki/trusted/{thumbprint}", admin(self.untrust)),
        ]

    async def view(self, request: web.Request) -> web.Response:
        return web.json_response(await self._facade.certificates())

    async def trust(self, request: web.Request) -> web.Response:
        return await _answer(self._facade.trust_certificate(*_asked(request)))

    async def delete(self, request: web.Request) -> web.Response:
        return await _answer(self._facade.delete_certificate(*_asked(request)))

    async def untrust(self, request: web.Request) -> web.Response:
        return await _answer(self._facade.untrust_certificate(*_asked(request)))


def _asked(request: web.Request) -> tuple[str, str]:
    """The certificate's thumbprint (any case) and who asks; 400 for what is none."""
    thumbprint = request.match_info["thumbprint"].lower()
    if not _THUMBPRINT.fullmatch(thumbprint):
        raise BadRequest("thumbprint: the SHA-1 of the certificate, 40 hexadecimal digits")
    return thumbprint, current_user(request).name


async def _answer(action: Awaitable[Any]) -> web.Response:
    """The action's answer (or {"done": true}); 404 for an unknown certificate, 409 with
    the reason for the rest."""
    try:
        answer = await action
    except Refused as exc:
        return refused(exc)
    return web.json_response({"done": True} if answer is None else answer)
