"""The maintenance log (issue #12): its page (`/maintenance`, the whole gateway's entries,
filtered by asset, kind and time), its API and its CSV export. Operators and engineers add
entries; engineers change and delete them; the gateway audits every change."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from web.auth import current_user, requires
from web.facade import BadQuery, Json, MaintenanceFields, Refused, WebFacade
from web.i18n import N_
from web.layout import page
from web.requests import (
    BadRequest,
    integer_field,
    json_object,
    refused,
    text_field,
    time_text,
)
from web.users import Role

MAINTENANCE_PAGE = page(N_("Maintenance log"), "maintenance")
DEFAULT_LIMIT = 500
MAX_LIMIT = 10_000
CSV_COLUMNS = (
    "id",
    "asset",
    "started",
    "finished",
    "kind",
    "parts",
    "note",
    "resets_life",
    "user",
    "entered",
    "changed_by",
    "changed",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# free text someone typed is written with a leading apostrophe instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class MaintenanceRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        engineer = requires(Role.ENGINEER)
        return [
            web.get("/maintenance", requires(Role.VIEWER)(MAINTENANCE_PAGE)),
            web.get("/api/maintenance", self.entries),
            web.post("/api/maintenance", requires(Role.OPERATOR)(self.add)),
            web.put("/api/maintenance/{id}", engineer(self.change)),
            web.delete("/api/maintenance/{id}", engineer(self.delete)),
        ]

    async def entries(self, request: web.Request) -> web.Response:
        """?asset=A&kind=K (each repeatable) &start=ISO&end=ISO&limit=N; &format=csv."""
        query = request.query
        start, end = (
            time_text(key, query[key]) if query.get(key) else None for key in ("start", "end")
        )
        if start is not None and end is not None and start > end:
            raise BadRequest("start must not be after end")
        limit = integer_field(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        try:
            found = await self._facade.maintenance(
                query.getall("asset", []), query.getall("kind", []), start, end, limit
            )
        except Refused as exc:
            return refused(exc)
        if query.get("format") == "csv":
            return _csv(found["entries"])
        return web.json_response(found)

    async def add(self, request: web.Request) -> web.Response:
        fields = _fields(await json_object(request))
        user = current_user(request).name
        return await self._answer(self._facade.add_maintenance(fields, user), status=201)

    async def change(self, request: web.Request) -> web.Response:
        number = _number(request)
        fields = _fields(await json_object(request))
        user = current_user(request).name
        return await self._answer(self._facade.change_maintenance(number, fields, user))

    async def delete(self, request: web.Request) -> web.Response:
        try:
            await self._facade.delete_maintenance(_number(request), current_user(request).name)
        except Refused as exc:
            return refused(exc)
        return web.json_response({"done": True})

    @staticmethod
    async def _answer(action: Awaitable[Json], status: int = 200) -> web.Response:
        try:
            entry = await action
        except BadQuery as exc:
            raise BadRequest(str(exc)) from None
        except Refused as exc:
            return refused(exc)
        return web.json_response(entry, status=status)


def _number(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(f"id: expected an entry number, got {text[:20]!r}")
    return int(text)


def _fields(body: Mapping[str, Any]) -> MaintenanceFields:
    resets_life = body.get("resets_life", False)
    if not isinstance(resets_life, bool):
        raise BadRequest("resets_life: expected true or false")
    started = time_text("started", text_field(body, "started"))
    return MaintenanceFields(
        asset=text_field(body, "asset"),
        started=started,
        finished=time_text("finished", text_field(body, "finished")),
        kind=text_field(body, "kind"),
        parts=text_field(body, "parts", default="").strip(),
        note=text_field(body, "note", default="").strip(),
        resets_life=resets_life,
    )


def _csv(entries: list[Mapping[str, Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([_cell(entry[column]) for column in CSV_COLUMNS])
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="maintenance-{stamp}.csv"'},
    )


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
