"""An asset's page (`/assets/<name>`, linked from the overview) and its read-out; the page
follows it live on `/api/events?asset=<name>` (web.live)."""

from __future__ import annotations

from aiohttp import web

from web.auth import requires
from web.facade import NotFound, WebFacade
from web.i18n import N_
from web.layout import page
from web.requests import refused
from web.users import Role

ASSET_PAGE = page(N_("Asset"), "asset")


class AssetRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/assets/{name}", requires(Role.VIEWER)(ASSET_PAGE)),
            web.get("/api/assets/{name}", self.asset),
        ]

    async def asset(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self._facade.asset(request.match_info["name"]))
        except NotFound as exc:
            return refused(exc)
